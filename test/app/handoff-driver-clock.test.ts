/**
 * The handoff driver when the wall clock steps (an NTP correction, a VM resumed, a manual `date`):
 * deadlines, drain ends and warm reports move with the step, so every move keeps the time it had
 * left (docs/ownership.md "Clock steps"). On the wall clock alone a step back of X held every move
 * X longer and dropped the warm reports heard after it, a step back past 24.8 days re-armed the
 * deadline timer every millisecond, and a step forward timed every move out at once, cold.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { pino } from 'pino';
import { HandoffDriver } from '../../src/app/handoff-driver.js';
import { DEFAULT_HANDOFF_SETTINGS, type HandoffSettings } from '../../src/core/handoff.js';
import type { ChangeCause } from '../../src/core/serving.js';
import { computeShardMap } from '../../src/sharding/index.js';
import type { HandoffStep } from '../../src/sharding/handoff.js';
import { eventually } from '../support/eventually.js';
import { ep } from '../sharding/handoff-fixtures.js';

const policy = { shardCount: 64, replicas: 1, spread: 'none' } as const;
const HOUR = 3_600_000;
const cause = { source: 'file', reason: 'test', detectedAt: new Date(), computeStartedAt: new Date(), computeSeconds: 0, mode: 'full' } as const;

interface Rig {
  readonly driver: HandoffDriver;
  readonly after: ReturnType<typeof computeShardMap>;
  /** Shards moving to `e`, and the deadline each move was given. */
  readonly moving: readonly { shard: number; deadline: number }[];
  readonly published: { step: HandoffStep; cause: ChangeCause }[];
  enqueued: number;
}

/** Node `e` joins four nodes, its agent's stream open: its shards warm before they flip. */
function rig(t: TestContext, settings: Partial<HandoffSettings>): Rig {
  const four = ['a', 'b', 'c', 'd'].map((id) => ep(id));
  const before = computeShardMap(four, policy);
  const after = computeShardMap([...four, ep('e')], policy);
  const published: Rig['published'] = [];
  const r = { after, published, enqueued: 0 } as { -readonly [K in keyof Rig]: Rig[K] };
  r.driver = new HandoffDriver({
    logger: pino({ level: 'silent' }),
    settings: () => ({ ...DEFAULT_HANDOFF_SETTINGS, flipIntervalMs: 0, drainMs: 0, ...settings }),
    warmers: () => new Set(['a', 'b', 'c', 'd', 'e']),
    publish: (step, c) => void published.push({ step, cause: c }),
    enqueue: (_what, job) => {
      r.enqueued++;
      job();
    },
  });
  t.after(() => r.driver.close());
  r.driver.plan(before, cause);
  r.driver.plan(after, cause);
  r.moving = published.at(-1)!.step.state.transitions.map((m) => ({ shard: m.shard, deadline: m.deadline }));
  assert.ok(r.moving.length > 0, 'e gains shards');
  return r;
}

/** From now on Date.now() reads `ms` off the real clock (the monotonic clock does not move). */
function stepWallClock(t: TestContext, ms: number): void {
  const real = Date.now.bind(Date);
  t.mock.method(Date, 'now', () => real() + ms);
}

const last = (r: Rig): HandoffStep => r.published.at(-1)!.step;

test('a move flips at its deadline when the wall clock steps back an hour meanwhile', async (t) => {
  const r = rig(t, { warmTimeoutMs: 300 });
  stepWallClock(t, -HOUR);
  await eventually('the moves time out', () => (last(r).state.transitions.length === 0 ? true : undefined), { timeoutMs: 3000 });
  assert.ok(last(r).state.completed.every((c) => c.outcome === 'timeout' && c.seconds < 10), JSON.stringify(last(r).state.completed.slice(0, 3)));
});

test('a warm report heard after the wall clock stepped back past warmTimeoutMs still flips its move', async (t) => {
  const r = rig(t, { warmTimeoutMs: 60_000 });
  stepWallClock(t, -HOUR);
  r.driver.reportWarm({ node: 'e', shards: r.moving.map((m) => m.shard) });
  await eventually('the moves flip warm', () => (last(r).state.transitions.length === 0 ? true : undefined), { timeoutMs: 2000 });
  assert.ok(last(r).state.completed.every((c) => c.outcome === 'warm'));
});

test('a step back moves the deadlines nodes are sent, and a report naming the old one still counts', async (t) => {
  const r = rig(t, { warmTimeoutMs: 60_000 });
  stepWallClock(t, -HOUR);
  // Any read of the clock notices the step; the moved deadlines go out at once.
  r.driver.reportWarm({ node: 'e', shards: [] });
  await eventually('republished', () => (r.published.at(-1)!.cause.reason === 'clock step' ? true : undefined), { timeoutMs: 2000 });
  const moved = last(r).state.transitions;
  assert.equal(moved.length, r.moving.length);
  // The step is measured against the monotonic clock, to a millisecond or two.
  for (const [i, m] of moved.entries()) assert.ok(Math.abs(m.deadline - (r.moving[i]!.deadline - HOUR)) <= 2, `shard ${m.shard}: ${m.deadline}`);
  // A node that warmed to the deadline it was first sent names that one.
  const out = r.driver.reportWarm({ node: 'e', shards: [], moves: r.moving.map((m) => ({ shard: m.shard, untilUnixMs: m.deadline })) });
  assert.deepEqual(out.stale, []);
  await eventually('the moves flip warm', () => (last(r).state.transitions.length === 0 ? true : undefined), { timeoutMs: 2000 });
});

test('a step forward of an hour does not time every move out at once', (t) => {
  const r = rig(t, { warmTimeoutMs: 60_000 });
  stepWallClock(t, HOUR);
  r.driver.plan(r.after, cause);
  assert.deepEqual(last(r).state.completed, [], 'no move ended');
  assert.equal(last(r).state.transitions.length, r.moving.length);
  for (const [i, m] of last(r).state.transitions.entries()) assert.ok(Math.abs(m.deadline - (r.moving[i]!.deadline + HOUR)) <= 2, `shard ${m.shard}: ${m.deadline}`);
});

test('a step back past setTimeout range (30 days) does not re-arm the deadline timer every millisecond', async (t) => {
  const r = rig(t, { warmTimeoutMs: 200 });
  stepWallClock(t, -30 * 24 * HOUR);
  await sleep(600);
  assert.ok(r.enqueued <= 4, `${r.enqueued} wakes in 600 ms`);
  assert.equal(last(r).state.transitions.length, 0, 'the moves timed out at their deadline');
});

test('a drain ends at its time when the wall clock steps back', async (t) => {
  const r = rig(t, { warmTimeoutMs: 60_000, drainMs: 300 });
  r.driver.reportWarm({ node: 'e', shards: r.moving.map((m) => m.shard) });
  await eventually('the moves flip warm', () => (last(r).state.transitions.length === 0 ? true : undefined), { timeoutMs: 2000 });
  assert.ok(last(r).state.drains.length > 0, 'the previous primaries drain');
  stepWallClock(t, -HOUR);
  await eventually('the drains end', () => (last(r).state.drains.length === 0 ? true : undefined), { timeoutMs: 3000 });
});

test('a warm report heard before the move starts here survives a step forward of the wall clock', (t) => {
  const four = ['a', 'b', 'c', 'd'].map((id) => ep(id));
  const before = computeShardMap(four, policy);
  const after = computeShardMap([...four, ep('e')], policy);
  const gaining = after.owners.flatMap((o, shard) => (o[0] === 'e' ? [shard] : []));
  let step: HandoffStep | undefined;
  const driver = new HandoffDriver({
    logger: pino({ level: 'silent' }),
    settings: () => ({ ...DEFAULT_HANDOFF_SETTINGS, flipIntervalMs: 0, drainMs: 0, warmTimeoutMs: 60_000 }),
    warmers: () => new Set(['a', 'b', 'c', 'd', 'e']),
    publish: (s) => void (step = s),
    enqueue: (_what, job) => job(),
  });
  t.after(() => driver.close());
  driver.plan(before, cause);
  // Another replica saw the change first: the node reports to this one before it starts the moves.
  driver.reportWarm({ node: 'e', shards: gaining });
  stepWallClock(t, HOUR);
  driver.plan(after, cause);
  assert.deepEqual(step!.state.transitions, [], 'every move flipped on the report');
  assert.ok(step!.state.completed.length === gaining.length && step!.state.completed.every((c) => c.outcome === 'warm'));
});

test('a pause between the clock reads (a long GC) is not taken for a step', (t) => {
  const four = ['a', 'b', 'c', 'd'].map((id) => ep(id));
  const before = computeShardMap(four, policy);
  const after = computeShardMap([...four, ep('e')], policy);
  // Both clocks advance together; once, the process stops for 2 s right after reading the wall clock.
  let elapsed = 0;
  let pauseNext = false;
  const clock = {
    wall: () => {
      const now = 1_700_000_000_000 + elapsed;
      if (pauseNext) {
        pauseNext = false;
        elapsed += 2_000;
      }
      return now;
    },
    mono: () => elapsed,
  };
  const warnings: string[] = [];
  const logger = pino({ level: 'warn' }, { write: (line: string) => void warnings.push(JSON.parse(line).msg) });
  let step: HandoffStep | undefined;
  const driver = new HandoffDriver({
    logger,
    settings: () => ({ ...DEFAULT_HANDOFF_SETTINGS, flipIntervalMs: 0, drainMs: 0, warmTimeoutMs: 60_000 }),
    warmers: () => new Set(['a', 'b', 'c', 'd', 'e']),
    publish: (s) => void (step = s),
    enqueue: (_what, job) => job(),
    clock,
  });
  t.after(() => driver.close());
  driver.plan(before, cause);
  driver.plan(after, cause);
  const deadlines = step!.state.transitions.map((m) => m.deadline);
  assert.ok(deadlines.length > 0);
  pauseNext = true;
  driver.reportWarm({ node: 'e', shards: [] });
  elapsed += 10;
  driver.reportWarm({ node: 'e', shards: [] });
  assert.deepEqual(warnings.filter((w) => w.startsWith('the wall clock stepped')), []);
  assert.deepEqual(step!.state.transitions.map((m) => m.deadline), deadlines, 'deadlines unmoved');
});
