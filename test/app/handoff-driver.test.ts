// The runner's handoff driver (docs/ownership.md "Two-phase moves", `handoff.flipIntervalMs`): warm
// reports that trickle in change the routed map once per flip tick, on ticks aligned to the epoch.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { pino } from 'pino';
import { HandoffDriver, untilNextTick } from '../../src/app/handoff-driver.js';
import { DEFAULT_HANDOFF_SETTINGS } from '../../src/core/handoff.js';
import type { ChangeCause } from '../../src/core/serving.js';
import { computeShardMap } from '../../src/sharding/index.js';
import type { HandoffStep } from '../../src/sharding/handoff.js';
import { ep } from '../sharding/handoff-fixtures.js';

const S = 256;
const policy = { shardCount: S, replicas: 1, spread: 'none' } as const;

test('untilNextTick: the wait to the next multiple of the interval since the epoch; 0 turns it off', () => {
  assert.equal(untilNextTick(1_000_250, 1000), 750);
  assert.equal(untilNextTick(1_000_999, 1000), 1);
  assert.equal(untilNextTick(1_001_000, 1000), 1000);
  assert.equal(untilNextTick(1_000_250, 0), 0);
});

/**
 * Feeds a driver the join of node `e` and then `reports` warm reports of its shards, one every
 * `gapMs`, with one more group of its shards left unreported unless `all`; returns the times at
 * which it published a flip, how many shards were still waiting, and when the last report went in.
 */
async function trickle(flipIntervalMs: number, reports: number, gapMs: number, all = false): Promise<{ flips: number[]; left: number; lastReport: number }> {
  const four = ['a', 'b', 'c', 'd'].map((id) => ep(id));
  const before = computeShardMap(four, policy);
  const after = computeShardMap([...four, ep('e')], policy);
  const flips: number[] = [];
  let last: HandoffStep | undefined;
  const driver = new HandoffDriver({
    logger: pino({ level: 'silent' }),
    settings: () => ({ ...DEFAULT_HANDOFF_SETTINGS, flipIntervalMs }),
    warmers: () => new Set(['a', 'b', 'c', 'd', 'e']),
    publish: (step: HandoffStep, cause: ChangeCause) => {
      last = step;
      if (cause.reason === 'shards warm') flips.push(Date.now());
    },
    enqueue: (_what, job) => job(),
  });
  const cause = { source: 'file', reason: 'test', detectedAt: new Date(), computeStartedAt: new Date(), computeSeconds: 0, mode: 'full' } as const;
  driver.plan(before, cause);
  driver.plan(after, cause);
  const gaining = last!.state.transitions.map((t) => t.shard);
  const groups = all ? reports : reports + 1;
  assert.ok(gaining.length >= groups, `e gains ${gaining.length} shards`);
  let lastReport = 0;
  for (let i = 0; i < reports; i++) {
    lastReport = Date.now();
    driver.reportWarm({ node: 'e', shards: gaining.filter((_, j) => j % groups === i) });
    await sleep(gapMs);
  }
  await sleep(flipIntervalMs + 50);
  driver.close();
  return { flips, left: last!.state.transitions.length, lastReport };
}

test('a trickle of warm reports flips on epoch-aligned ticks, once per tick; with 0, once per report', async () => {
  // 12 reports 25 ms apart span 300 ms: at most two 400 ms tick boundaries fall inside.
  const ticked = await trickle(400, 12, 25);
  assert.ok(ticked.left > 0, 'the unreported shards wait');
  assert.ok(ticked.flips.length >= 1 && ticked.flips.length <= 2, `flips at ${ticked.flips.join(', ')}`);
  // Timers fire a little late, never early: each flip lands just after a multiple of 400 ms.
  for (const at of ticked.flips) assert.ok(at % 400 < 100, `flip at ${at} is ${at % 400} ms past a tick`);

  const eager = await trickle(0, 12, 25, true);
  assert.equal(eager.left, 0);
  assert.equal(eager.flips.length, 12, 'each report flips on its own');
});

test('the report that leaves no transition waiting flips at once, not at the next tick', async () => {
  // Ticks of 2 s: the reports before the last wait for one (a tick may fall among them); the last
  // completes every move.
  const done = await trickle(2000, 4, 25, true);
  assert.equal(done.left, 0, 'every shard flipped');
  assert.ok(done.flips.length >= 1 && done.flips.length <= 2, `flips at ${done.flips.join(', ')}`);
  const last = done.flips.at(-1)!;
  assert.ok(last >= done.lastReport && last - done.lastReport < 100, `flipped ${last - done.lastReport} ms after the last report`);
  for (const at of done.flips.slice(0, -1)) assert.ok(at % 2000 < 100, `an earlier flip at ${at} is on a tick`);
});

/** A driver for the join of `e` to a, b, c, d, with these streams open; `last()` is its last step. */
function joinDriver(streams: ReadonlySet<string>, agentWaitMs: number, logger = pino({ level: 'silent' })) {
  const four = ['a', 'b', 'c', 'd'].map((id) => ep(id));
  let last: HandoffStep | undefined;
  let published = 0;
  const driver = new HandoffDriver({
    logger,
    settings: () => ({ ...DEFAULT_HANDOFF_SETTINGS, agentWaitMs }),
    warmers: () => streams,
    publish: (step: HandoffStep) => {
      last = step;
      published += 1;
    },
    enqueue: (_what, job) => job(),
  });
  const cause = { source: 'file', reason: 'test', detectedAt: new Date(), computeStartedAt: new Date(), computeSeconds: 0, mode: 'full' } as const;
  const after = computeShardMap([...four, ep('e')], policy);
  driver.plan(computeShardMap(four, policy), cause);
  driver.plan(after, cause);
  return { driver, after, last: (): HandoffStep => last!, published: (): number => published };
}

test('a node that turns ready before its agent connects waits for it once the fleet has shown agents; never-seen agents flip at once', () => {
  const { driver, last } = joinDriver(new Set(['a', 'b', 'c', 'd']), DEFAULT_HANDOFF_SETTINGS.agentWaitMs);
  driver.close();
  const waiting = last();
  assert.ok(waiting.state.transitions.length > 0 && waiting.state.transitions.every((t) => t.warming === 'e'));
  assert.ok(waiting.state.transitions.every((t) => t.deadline - t.startedAt === DEFAULT_HANDOFF_SETTINGS.agentWaitMs));
  const none = joinDriver(new Set(), DEFAULT_HANDOFF_SETTINGS.agentWaitMs);
  none.driver.close();
  assert.equal(none.last().routed, none.after, 'no stream ever opened: keyway 0.1 behaviour');
});

test("the awaited stream opening re-plans at once: the moves take the warm-up deadline; another node's stream changes nothing", () => {
  const streams = new Set(['a', 'b', 'c', 'd']);
  const { driver, last, published } = joinDriver(streams, DEFAULT_HANDOFF_SETTINGS.agentWaitMs);
  const before = published();
  driver.ownershipStreamOpened('a');
  assert.equal(published(), before, 'no move waits for a');
  streams.add('e');
  driver.ownershipStreamOpened('e');
  driver.close();
  assert.equal(published(), before + 1);
  const { transitions } = last().state;
  assert.ok(transitions.length > 0 && transitions.every((t) => t.warming === 'e' && t.deadline - t.startedAt === DEFAULT_HANDOFF_SETTINGS.warmTimeoutMs));
});

test('moves that waited for a stream in vain flip and are logged once per node, with the node and the shard count', async () => {
  const lines: { level: number; node?: string; shards?: number; msg: string }[] = [];
  const logger = pino({ level: 'warn' }, { write: (l: string) => void lines.push(JSON.parse(l) as (typeof lines)[number]) });
  const { driver, last } = joinDriver(new Set(['a', 'b', 'c', 'd']), 100, logger);
  const waiting = last().state.transitions.length;
  assert.ok(waiting > 0);
  assert.equal(lines.length, 0, 'nothing logged while the moves wait');
  // The driver's own deadline timer ends the wait.
  await sleep(300);
  driver.close();
  assert.equal(last().state.transitions.length, 0);
  assert.deepEqual(
    lines.map((l) => [l.level, l.node, l.shards]),
    [[40, 'e', waiting]],
  );
  assert.match(lines[0]!.msg, /handoff\.agentWaitMs/);
});
