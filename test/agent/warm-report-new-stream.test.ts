// keyway forgets a node's warm reports when the node opens a new ownership stream: a node that
// restarted has lost the cache it reported warm (docs/ownership.md "Two-phase moves"). So the
// agent tells a replica again, on each new stream once it is up, what it still holds warm; without
// it a reconnect (keyway ages every connection out after about 30 minutes) between a report and
// the flip tick left the move to its deadline, cold.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import { OwnershipAgent } from '../../src/agent/index.js';
import { WarmReportReplySchema, WarmReportSchema } from '../../src/xds/proto.js';
import { eventually } from '../support/eventually.js';
import { assignmentsResponse, startFakeKeyway, type RawStream } from './fake-keyway.js';

test('after a reconnect the agent reports again, on the new stream, the shards it holds warm', async (t) => {
  const until = Date.now() + 600_000;
  const WARMING = { role: 1, phase: 2, reader: false, untilUnixMs: BigInt(until), servingOwners: [{ id: 'b', address: '10.0.0.2', port: 8080 }] };
  const streams: RawStream[] = [];
  // In order: each stream's opening and each report, with the move it names.
  const events: string[] = [];
  const fake = await startFakeKeyway(
    (call, n) => {
      call.on('error', () => {});
      streams.push(call);
      events.push(`stream ${n}`);
      // The first stream gets the move; a reconnect that announced it is sent nothing new, as keyway does.
      if (n === 1) call.write(assignmentsResponse([1], 8, 'w1', WARMING));
    },
    (path, call, cb) => {
      if (path !== 'ReportWarm') return cb(null, Buffer.alloc(0));
      const report = fromBinary(WarmReportSchema, call.request);
      events.push(`report ${report.warmed.map((w) => `${w.shard}@${w.untilUnixMs}`).join(',')}`);
      cb(null, Buffer.from(toBinary(WarmReportReplySchema, create(WarmReportReplySchema, { accepted: report.shards }))));
    },
  );
  t.after(() => fake.close());
  let warmups = 0;
  const agent = new OwnershipAgent({
    nodeId: 'n',
    servers: [fake.address],
    timing: { backoffInitialMs: 20, backoffMaxMs: 200, loadWindowMs: 0 },
    warm: async () => {
      warmups++;
    },
  });
  t.after(() => agent.close());
  agent.start();
  await eventually('the first report', () => [...events], { accept: (e) => e.includes(`report 1@${until}`) });
  // keyway ends the stream (an aged-out connection); the agent reconnects and announces shard 1.
  streams[0]!.end();
  await eventually('the report on the new stream', () => [...events], { accept: (e) => e.filter((x) => x.startsWith('report')).length === 2, timeoutMs: 10_000 });
  assert.deepEqual(events, ['stream 1', `report 1@${until}`, 'stream 2', `report 1@${until}`]);
  assert.equal(warmups, 1, 'the shard was reported again, not warmed again');
  assert.equal(agent.assignments().get(1)?.phase, 'warming');
});
