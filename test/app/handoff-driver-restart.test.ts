// A warm report counts only while the node's ownership stream that followed it stays open
// (docs/ownership.md "Two-phase moves"): a node that reports warm and restarts with an empty cache
// before the flip tick, or whose last stream closes, must not have its shards flipped to it on the
// report of the cache it lost. A report sent on the node's new stream counts as usual.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import { HandoffDriver } from '../../src/app/handoff-driver.js';
import { DEFAULT_HANDOFF_SETTINGS } from '../../src/core/handoff.js';
import { computeShardMap } from '../../src/sharding/index.js';
import type { HandoffStep } from '../../src/sharding/handoff.js';
import { eventually } from '../support/eventually.js';
import { ep } from '../sharding/handoff-fixtures.js';

const policy = { shardCount: 64, replicas: 1, spread: 'none' } as const;
const four = ['a', 'b', 'c', 'd'].map((id) => ep(id));
const before = computeShardMap(four, policy);
const after = computeShardMap([...four, ep('e')], policy);
const cause = { source: 'file', reason: 'test', detectedAt: new Date(), computeStartedAt: new Date(), computeSeconds: 0, mode: 'full' } as const;

/** A driver with flip ticks of 100 ms that has started e's moves; `jobs` names each queued job that ran. */
function joining() {
  const streams = new Set(['a', 'b', 'c', 'd', 'e']);
  let last: HandoffStep | undefined;
  const jobs: string[] = [];
  const logs: { msg: string; node?: string; shards?: number }[] = [];
  const driver = new HandoffDriver({
    logger: pino({ level: 'info' }, { write: (l: string) => void logs.push(JSON.parse(l) as (typeof logs)[number]) }),
    settings: () => ({ ...DEFAULT_HANDOFF_SETTINGS, flipIntervalMs: 100 }),
    warmers: () => streams,
    publish: (step) => {
      last = step;
    },
    enqueue: (what, job) => {
      jobs.push(what);
      job();
    },
  });
  driver.plan(before, cause);
  driver.plan(after, cause);
  const moves = last!.state.transitions;
  assert.ok(moves.length >= 2 && moves.every((t) => t.warming === 'e'));
  return { driver, moves, streams, jobs, logs, last: (): HandoffStep => last! };
}

const inTransition = (step: HandoffStep): number[] => step.state.transitions.map((t) => t.shard);

test('a node that reports warm and opens a new ownership stream (it restarted) before the flip tick does not get the shard flipped on that report', async () => {
  const { driver, moves, jobs, logs, last } = joining();
  const m = moves[0]!;
  // One of two moves reported: the report waits for the next tick.
  driver.reportWarm({ node: 'e', shards: [], moves: [{ shard: m.shard, untilUnixMs: m.deadline }] });
  // The node restarts within the reconnect grace: its new agent opens a stream with an empty cache.
  driver.ownershipStreamOpened('e');
  await eventually('the flip tick ran', () => jobs.filter((j) => j === 'warm report').length, { accept: (n) => n === 1 });
  assert.ok(inTransition(last()).includes(m.shard), 'the move still waits for a report from the restarted node');
  assert.equal(last().state.completed.find((c) => c.shard === m.shard), undefined);
  assert.ok(logs.some((l) => l.msg.startsWith('warm reports of a node that opened a new ownership stream forgotten') && l.node === 'e' && l.shards === 1));

  // What the node reports on its new stream counts.
  driver.reportWarm({ node: 'e', shards: [], moves: [{ shard: m.shard, untilUnixMs: m.deadline }] });
  await eventually('the second tick ran', () => jobs.filter((j) => j === 'warm report').length, { accept: (n) => n === 2 });
  driver.close();
  assert.ok(!inTransition(last()).includes(m.shard), 'flipped on the report of the new stream');
  assert.equal(last().state.completed.find((c) => c.shard === m.shard)?.outcome, 'warm');
});

test('a node whose last ownership stream closes after it reported warm does not get the shard flipped as warm when the close re-plans', () => {
  const { driver, moves, streams, last } = joining();
  const m = moves[0]!;
  driver.reportWarm({ node: 'e', shards: [m.shard] });
  // The stream closed and the reconnect grace passed without a new one: re-planned at once.
  streams.delete('e');
  driver.ownershipStreamClosed('e');
  driver.close();
  const t = last().state.transitions.find((x) => x.shard === m.shard);
  assert.ok(t, 'the move waits for the node\'s stream (agentWaitMs from its start) instead of flipping cold as warm');
  assert.equal(t.deadline - t.startedAt, DEFAULT_HANDOFF_SETTINGS.agentWaitMs);
  assert.equal(last().state.completed.find((c) => c.shard === m.shard), undefined);
  assert.equal(driver.heldWarmReports, 0);
});

test('ownershipStreamEnded (a node\'s last stream gone, within the reconnect grace) forgets its reports, so the tick in the grace does not flip on them', async () => {
  const { driver, moves, jobs, last } = joining();
  const m = moves[0]!;
  driver.reportWarm({ node: 'e', shards: [], moves: [{ shard: m.shard, untilUnixMs: m.deadline }] });
  // The node is still a warmer (the grace), but the stream that followed its report is gone.
  driver.ownershipStreamEnded('e');
  assert.equal(driver.heldWarmReports, 0);
  await eventually('the flip tick ran', () => jobs.filter((j) => j === 'warm report').length, { accept: (n) => n === 1 });
  driver.close();
  assert.ok(inTransition(last()).includes(m.shard), 'the move waits for a report on the node\'s next stream');
});
