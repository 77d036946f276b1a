// Warm reports that name their move (docs/ownership.md "ReportWarm"): the handoff driver takes a
// shard of `moves` only for the move of the shard to the node that it runs, named by a deadline it
// sent; reports in the old form (shards only) count as before.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { pino } from 'pino';
import { HandoffDriver } from '../../src/app/handoff-driver.js';
import { DEFAULT_HANDOFF_SETTINGS } from '../../src/core/handoff.js';
import { computeShardMap } from '../../src/sharding/index.js';
import type { HandoffStep } from '../../src/sharding/handoff.js';
import { ep } from '../sharding/handoff-fixtures.js';

const policy = { shardCount: 64, replicas: 1, spread: 'none' } as const;
const four = ['a', 'b', 'c', 'd'].map((id) => ep(id));
const before = computeShardMap(four, policy);
const after = computeShardMap([...four, ep('e')], policy);
const cause = { source: 'file', reason: 'test', detectedAt: new Date(), computeStartedAt: new Date(), computeSeconds: 0, mode: 'full' } as const;

/** A driver (flip ticks off) that has started e's moves; `streams` are the nodes with a stream open. */
function joining(streams = new Set(['a', 'b', 'c', 'd', 'e'])) {
  let last: HandoffStep | undefined;
  const debug: { msg: string; shards?: number[] }[] = [];
  const driver = new HandoffDriver({
    logger: pino({ level: 'debug' }, { write: (l: string) => void debug.push(JSON.parse(l) as (typeof debug)[number]) }),
    settings: () => ({ ...DEFAULT_HANDOFF_SETTINGS, flipIntervalMs: 0 }),
    warmers: () => streams,
    publish: (step) => {
      last = step;
    },
    enqueue: (_what, job) => job(),
  });
  driver.plan(before, cause);
  driver.plan(after, cause);
  const moves = last!.state.transitions;
  assert.ok(moves.length >= 2 && moves.every((t) => t.warming === 'e'));
  return { driver, moves, debug, last: (): HandoffStep => last! };
}

const inTransition = (step: HandoffStep): number[] => step.state.transitions.map((t) => t.shard);

test("a shard named by this replica's deadline flips; one named by another deadline (another replica's, a cancelled move's) is ignored, counted and logged at debug", async () => {
  const { driver, moves, debug, last } = joining();
  const [m0, m1] = [moves[0]!, moves[1]!];
  // Another replica saw the change 30 ms later: its deadline is not this replica's. The shard is
  // also in the old-form list (for older keyways): its entry alone decides.
  const outcome = driver.reportWarm({ node: 'e', shards: [m1.shard], moves: [{ shard: m0.shard, untilUnixMs: m0.deadline }, { shard: m1.shard, untilUnixMs: m1.deadline + 30 }] });
  assert.deepEqual(outcome, { stale: [m1.shard] });
  await sleep(20);
  driver.close();
  assert.ok(!inTransition(last()).includes(m0.shard), 'the named move flipped');
  assert.ok(inTransition(last()).includes(m1.shard), 'the other still waits');
  assert.equal(last().state.completed.find((c) => c.shard === m0.shard)?.outcome, 'warm');
  assert.equal(driver.staleWarmReports, 1);
  assert.deepEqual(debug.filter((l) => l.msg.startsWith('warm report names a move')).map((l) => l.shards), [[m1.shard]]);
});

test('a report of a node that is not the warming one, or of a shard in no move, is ignored', () => {
  const { driver, moves } = joining();
  const m = moves[0]!;
  const still = new Set(moves.map((t) => t.shard));
  const idle = after.owners.findIndex((_, shard) => !still.has(shard));
  assert.deepEqual(driver.reportWarm({ node: 'a', shards: [], moves: [{ shard: m.shard, untilUnixMs: m.deadline }] }), { stale: [m.shard] });
  assert.deepEqual(driver.reportWarm({ node: 'e', shards: [], moves: [{ shard: idle, untilUnixMs: m.deadline }] }), { stale: [idle] });
  driver.close();
});

test('a deadline the move had before it grew still names it: the node may have reported before the new one reached it', async () => {
  const streams = new Set(['a', 'b', 'c', 'd']);
  const { driver, moves, last } = joining(streams);
  const m = moves[0]!;
  assert.equal(m.deadline - m.startedAt, DEFAULT_HANDOFF_SETTINGS.agentWaitMs, 'waiting for e\'s stream');
  streams.add('e');
  driver.ownershipStreamOpened('e');
  const grown = last().state.transitions.find((t) => t.shard === m.shard)!;
  assert.equal(grown.deadline - grown.startedAt, DEFAULT_HANDOFF_SETTINGS.warmTimeoutMs);
  assert.deepEqual(driver.reportWarm({ node: 'e', shards: [], moves: [{ shard: m.shard, untilUnixMs: m.deadline }] }), { stale: [] });
  await sleep(20);
  driver.close();
  assert.ok(!inTransition(last()).includes(m.shard));
});

test('a move cancelled and started again is a new move: a report naming the first is ignored', async () => {
  const { driver, moves, last } = joining();
  const m = moves[0]!;
  driver.plan(before, cause);
  assert.deepEqual(inTransition(last()), [], 'cancelled');
  await sleep(5);
  driver.plan(after, cause);
  const again = last().state.transitions.find((t) => t.shard === m.shard)!;
  assert.ok(again.startedAt > m.startedAt);
  assert.deepEqual(driver.reportWarm({ node: 'e', shards: [], moves: [{ shard: m.shard, untilUnixMs: m.deadline }] }), { stale: [m.shard] });
  await sleep(20);
  assert.ok(inTransition(last()).includes(m.shard), 'the new move still waits for its own report');
  driver.reportWarm({ node: 'e', shards: [], moves: [{ shard: m.shard, untilUnixMs: again.deadline }] });
  await sleep(20);
  driver.close();
  assert.ok(!inTransition(last()).includes(m.shard));
});

test('the old form (shards only) still completes moves, also when it comes before this replica started them', async () => {
  const { driver, moves, last } = joining();
  driver.reportWarm({ node: 'e', shards: [moves[0]!.shard] });
  await sleep(20);
  assert.ok(!inTransition(last()).includes(moves[0]!.shard));
  driver.close();

  // A report that comes before the change (another replica told the node first) is kept.
  let step: HandoffStep | undefined;
  const early = new HandoffDriver({
    logger: pino({ level: 'silent' }),
    settings: () => ({ ...DEFAULT_HANDOFF_SETTINGS, flipIntervalMs: 0 }),
    warmers: () => new Set(['a', 'b', 'c', 'd', 'e']),
    publish: (s) => {
      step = s;
    },
    enqueue: (_what, job) => job(),
  });
  early.plan(before, cause);
  early.reportWarm({ node: 'e', shards: moves.map((t) => t.shard) });
  early.plan(after, cause);
  early.close();
  assert.deepEqual(inTransition(step!), [], 'every move flipped on the report heard before it started');
  assert.equal(early.staleWarmReports, 0);
});
