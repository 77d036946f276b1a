// When the node reading a shard counts as holding it warm for another replica's move of it
// (docs/ownership.md "The agent library", Warming): a flip the node saw on the stream it reads
// from, or a warm-up that resolved, counts; a replica that restarted and routes its first map
// without transitions does not, or the other replicas flipped their moves cold on the report.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import { OwnershipAgent } from '../../src/agent/index.js';
import { WarmReportReplySchema, WarmReportSchema } from '../../src/xds/proto.js';
import { eventually } from '../support/eventually.js';
import { assignmentsResponse, refuse, startFakeKeyway, type FakeKeyway, type RawStream } from './fake-keyway.js';

const FAST = { backoffInitialMs: 20, backoffMaxMs: 100, reportRetryMs: 20 };
const WARMING = (untilUnixMs: number) => ({ role: 1, phase: 2, reader: false, untilUnixMs: BigInt(untilUnixMs), servingOwners: [{ id: 'b', address: '10.0.0.2', port: 8080 }] });
const SERVING_READER = { role: 1, phase: 1, reader: true } as const;

/** The replica the node reads from: each stream is handed to the test, in order. */
async function source(t: TestContext, streams: RawStream[]): Promise<FakeKeyway> {
  const k = await startFakeKeyway((call) => {
    call.on('error', () => {});
    streams.push(call);
  });
  t.after(() => k.close());
  return k;
}

/** The other replica: gives shard 1 as WARMING until `until`, and records the moves each report names. */
async function other(t: TestContext, until: number, reports: string[][], streams: RawStream[] = []): Promise<FakeKeyway> {
  const k = await startFakeKeyway(
    (call) => {
      call.on('error', () => {});
      streams.push(call);
      call.write(assignmentsResponse([1], 8, 'o1', WARMING(until)));
    },
    recordingReports(reports),
  );
  t.after(() => k.close());
  return k;
}

/** A fake keyway's unary handler that accepts every ReportWarm and records its moves as `shard@until`. */
function recordingReports(reports: string[][]): Parameters<typeof startFakeKeyway>[1] {
  return (path, call, cb) => {
    if (path !== 'ReportWarm') return cb(null, Buffer.alloc(0));
    const r = fromBinary(WarmReportSchema, call.request);
    reports.push(r.warmed.map((w) => `${w.shard}@${w.untilUnixMs}`));
    cb(null, Buffer.from(toBinary(WarmReportReplySchema, create(WarmReportReplySchema, { accepted: r.shards }))));
  };
}

function agentOf(t: TestContext, servers: string[], warm: () => Promise<void>): OwnershipAgent {
  const agent = new OwnershipAgent({ nodeId: 'n', servers, timing: FAST, warm });
  agent.start();
  t.after(() => agent.close());
  return agent;
}

const never = (): Promise<void> => new Promise<void>(() => {});

test('a replica that restarts and gives a shard still warming as SERVING does not make the node report it warm to the others', async (t) => {
  const until = Date.now() + 60_000;
  const streams: RawStream[] = [];
  const reports: string[][] = [];
  const b = await source(t, streams);
  const a = await other(t, until, reports);
  const agent = agentOf(t, [b.address, a.address], never);
  await eventually('the first stream', () => streams.length, { accept: (n) => n === 1 });
  streams[0]!.write(assignmentsResponse([1], 8, 'b1', WARMING(until)));
  await eventually('warming', () => agent.assignments().get(1)?.phase === 'warming');
  // b restarts: its new stream's first answer routes the shard here, with no transition.
  refuse(streams[0]!, 14, 'restarting');
  await eventually('b reconnected', () => streams.length, { accept: (n) => n === 2 });
  streams[1]!.write(assignmentsResponse([1], 8, 'b2', SERVING_READER));
  await eventually('the node reads the shard through b', () => agent.assignments().get(1)?.reader === true);
  await sleep(300);
  assert.deepEqual(reports, [], 'the warm-up never finished: a keeps waiting for it');
});

test('a flip the node saw on the stream it reads from is told to a replica still warming the shard', async (t) => {
  const until = Date.now() + 60_000;
  const streams: RawStream[] = [];
  const reports: string[][] = [];
  const b = await source(t, streams);
  const a = await other(t, until + 500, reports);
  const agent = agentOf(t, [b.address, a.address], never);
  await eventually('the first stream', () => streams.length, { accept: (n) => n === 1 });
  streams[0]!.write(assignmentsResponse([1], 8, 'b1', WARMING(until)));
  await eventually('warming', () => agent.assignments().get(1)?.phase === 'warming');
  // b flips the shard (its deadline) on the same stream: it routes the shard here now.
  streams[0]!.write(assignmentsResponse([1], 8, 'b2', SERVING_READER));
  await eventually('a is told, naming its own move', () => reports, { accept: (r) => r.length === 1 });
  assert.deepEqual(reports, [[`1@${until + 500}`]]);
});

test('a warm-up that resolved still counts after the replica the node reads from restarted', async (t) => {
  const until = Date.now() + 60_000;
  const streams: RawStream[] = [];
  const aStreams: RawStream[] = [];
  const reports: string[][] = [];
  const b = await source(t, streams);
  const a = await other(t, until, reports, aStreams);
  agentOf(t, [b.address, a.address], async () => {});
  await eventually('the first stream', () => streams.length, { accept: (n) => n === 1 });
  streams[0]!.write(assignmentsResponse([1], 8, 'b1', WARMING(until)));
  await eventually('a is told of the warm-up', () => reports.length, { accept: (n) => n === 1 });
  refuse(streams[0]!, 14, 'restarting');
  await eventually('b reconnected', () => streams.length, { accept: (n) => n === 2 });
  streams[1]!.write(assignmentsResponse([1], 8, 'b2', SERVING_READER));
  await sleep(100);
  // a names the move anew (a later deadline): the node warmed the shard, so a is told again.
  aStreams[0]!.write(assignmentsResponse([1], 8, 'o2', WARMING(until + 1_000)));
  await eventually('a is told again', () => reports, { accept: (r) => r.length === 2 });
  assert.deepEqual(reports, [[`1@${until}`], [`1@${until + 1_000}`]]);
});

test('a shard the node read before a replica began its move is told to that replica', async (t) => {
  const until = Date.now() + 60_000;
  const streams: RawStream[] = [];
  const aStreams: RawStream[] = [];
  const reports: string[][] = [];
  const b = await source(t, streams);
  const a = await startFakeKeyway(
    (call) => {
      call.on('error', () => {});
      aStreams.push(call);
      call.write(assignmentsResponse([1], 8, 'o1', SERVING_READER));
    },
    recordingReports(reports),
  );
  t.after(() => a.close());
  const agent = agentOf(t, [b.address, a.address], never);
  await eventually('the first stream', () => streams.length, { accept: (n) => n === 1 });
  streams[0]!.write(assignmentsResponse([1], 8, 'b1', SERVING_READER));
  await eventually('the node reads the shard', () => agent.assignments().get(1)?.reader === true);
  await eventually('a answered', () => aStreams.length, { accept: (n) => n === 1 });
  await sleep(50);
  aStreams[0]!.write(assignmentsResponse([1], 8, 'o2', WARMING(until)));
  await eventually('a is told', () => reports, { accept: (r) => r.length === 1 });
  assert.deepEqual(reports, [[`1@${until}`]]);
});
