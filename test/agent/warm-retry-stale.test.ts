// A warm report belongs to one warm-up (docs/ownership.md "The agent library"): a retry still
// pending when the shard stops warming is dropped, and every report names its move by the
// replica's own WARMING deadline, so keyway can refuse one that reaches it after a later move of
// the shard back to the node started (a keyway older than that would flip the later move on it).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import { OwnershipAgent } from '../../src/agent/index.js';
import { DeltaDiscoveryResponseSchema, WarmReportReplySchema, WarmReportSchema } from '../../src/xds/proto.js';
import { TYPE_URL } from '../../src/xds/resources.js';
import { eventually } from '../support/eventually.js';
import { assignmentsResponse, startFakeKeyway, type RawStream } from './fake-keyway.js';

const WARMING = (untilUnixMs: number) => ({ role: 1, phase: 2, reader: false, untilUnixMs: BigInt(untilUnixMs), servingOwners: [{ id: 'b', address: '10.0.0.2', port: 8080 }] });

function removal(shard: number, nonce: string): Buffer {
  return Buffer.from(toBinary(DeltaDiscoveryResponseSchema, create(DeltaDiscoveryResponseSchema, { typeUrl: TYPE_URL.assignment, nonce, removedResources: [String(shard)] })));
}

const ok = (shards: number[]) => Buffer.from(toBinary(WarmReportReplySchema, create(WarmReportReplySchema, { accepted: shards })));

test('a warm report retry for a warm-up that ended is not sent, so it cannot complete a later move of the shard to the node', async (t) => {
  // Both replicas run the same moves; each stream is kept to send them the cancel and the new move.
  const streams: RawStream[] = [];
  const until1 = Date.now() + 60_000;
  const until2 = until1 + 1_000;
  const onStream = (call: RawStream): void => {
    call.on('error', () => {});
    streams.push(call);
    call.write(assignmentsResponse([1], 8, 'w1', WARMING(until1)));
  };
  const primary = await startFakeKeyway(onStream, (_path, call, cb) => cb(null, ok(fromBinary(WarmReportSchema, call.request).shards)));
  // The second replica refuses the first report (UNAVAILABLE: retried), then takes every report.
  const calls: string[][] = [];
  const second = await startFakeKeyway(onStream, (path, call, cb) => {
    if (path !== 'ReportWarm') return cb(null, Buffer.alloc(0));
    const report = fromBinary(WarmReportSchema, call.request);
    calls.push(report.warmed.map((w) => `${w.shard}@${w.untilUnixMs}`));
    if (calls.length === 1) return cb({ code: 14, details: 'not yet' });
    cb(null, ok(report.shards));
  });
  t.after(() => Promise.all([primary.close(), second.close()]));
  const warmups: number[] = [];
  const logs: Record<string, unknown>[] = [];
  let finishSecond: (() => void) | undefined;
  const agent = new OwnershipAgent({
    nodeId: 'n',
    servers: [primary.address, second.address],
    // The retry waits 300 to 600 ms (drawn from half the delay to all of it): time for the cancel and the new move.
    timing: { backoffInitialMs: 20, backoffMaxMs: 2_000, reportRetryMs: 600 },
    log: (r) => logs.push(r),
    warm: (a, signal) => {
      warmups.push(a.untilUnixMs);
      // The first warm-up finishes at once; the second (the move back to the node) is still running.
      if (warmups.length === 1) return Promise.resolve();
      return new Promise<void>((resolve) => {
        finishSecond = resolve;
        signal.addEventListener('abort', () => resolve());
      });
    },
  });
  t.after(() => agent.close());
  agent.start();
  await eventually('the first report failed on the second replica', () => calls.length, { accept: (n) => n === 1 });
  // keyway cancels the move, then starts it again toward the node, within the retry delay.
  assert.equal(streams.length, 2);
  for (const call of streams) call.write(removal(1, 'c1'));
  await eventually('the agent saw the cancel', () => agent.assignments().has(1), { accept: (held) => !held });
  for (const call of streams) call.write(assignmentsResponse([1], 8, 'w2', WARMING(until2)));
  await eventually('the second warm-up started', () => warmups.length, { accept: (n) => n === 2 });
  // Either the stale retry goes out, or the agent drops it.
  await eventually(
    'the retry was sent or dropped',
    () => calls.length > 1 || logs.some((r) => r.msg === 'warm report not sent: the warm-up ended'),
    { timeoutMs: 5_000, describe: () => ({ calls, logs: logs.map((r) => r.msg) }) },
  );
  assert.deepEqual(calls, [[`1@${until1}`]], 'the second replica heard of shard 1 only from the cancelled warm-up\'s failed report');
  // The second warm-up's own report still goes out when it finishes, naming the new move.
  finishSecond!();
  await eventually('the second warm-up is reported', () => calls.length, { accept: (n) => n === 2 });
  assert.deepEqual(calls[1], [`1@${until2}`]);
});
