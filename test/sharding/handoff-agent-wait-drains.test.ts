// The handoff planner's waits for an agent and the ends of drains (docs/ownership.md "Two-phase
// moves", docs/configuration.md `handoff.agentWaitMs`): the stream wait is capped by the warm-up
// deadline, agentWaitMs 0 starts no transition, and a drain ends when its node leaves or warms the
// shard again.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Endpoint } from '../../src/core/endpoint.js';
import { DEFAULT_HANDOFF_SETTINGS, type HandoffSettings } from '../../src/core/handoff.js';
import type { ShardMap } from '../../src/core/shard-map.js';
import { computeShardMap } from '../../src/sharding/index.js';
import { stepHandoff, type HandoffStep } from '../../src/sharding/handoff.js';
import { WarmLedger } from '../../src/sharding/warm-ledger.js';
import { ep } from './handoff-fixtures.js';

const S = 256;
const mapOf = (endpoints: Endpoint[]): ShardMap => computeShardMap(endpoints, { shardCount: S, replicas: 1, spread: 'none' });
const settings: HandoffSettings = { ...DEFAULT_HANDOFF_SETTINGS, warmTimeoutMs: 30_000, drainMs: 10_000 };
const T0 = 1_000_000;
const ALL = new Set(['a', 'b', 'c', 'd', 'e']);
const ABCD = new Set(['a', 'b', 'c', 'd']);
const four = ['a', 'b', 'c', 'd'].map((id) => ep(id));

function step(
  previous: HandoffStep | undefined,
  target: ShardMap,
  now: number,
  opts: { warm?: WarmLedger; over?: Partial<HandoffSettings>; warmers?: ReadonlySet<string>; agentsExpected?: boolean } = {},
): HandoffStep {
  return stepHandoff({
    previous,
    target,
    warm: opts.warm ?? new WarmLedger(),
    warmers: opts.warmers ?? ALL,
    agentsExpected: opts.agentsExpected ?? false,
    settings: { ...settings, ...opts.over },
    now,
  });
}

const gainedBy = (before: ShardMap, after: ShardMap, id: string): number[] =>
  after.owners.flatMap((o, s) => (o[0] === id && before.owners[s]?.[0] !== id ? [s] : []));

test('a move waiting for an agent stream waits no longer than warmTimeoutMs, even when agentWaitMs is longer', () => {
  const before = mapOf(four);
  const after = mapOf([...four, ep('e')]);
  const gaining = gainedBy(before, after, 'e');
  assert.ok(gaining.length > 0);
  const over = { agentWaitMs: 60_000, warmTimeoutMs: 10_000 };
  const s0 = step(undefined, before, T0);
  const waiting = step(s0, after, T0 + 1, { over, warmers: ABCD, agentsExpected: true });
  assert.deepEqual(waiting.state.transitions.map((t) => t.shard), gaining);
  assert.ok(waiting.state.transitions.every((t) => t.deadline === T0 + 1 + 10_000), 'the deadline is the warm-up cap');
  const gaveUp = step(waiting, after, T0 + 1 + 10_000, { over, warmers: ABCD, agentsExpected: true });
  assert.equal(gaveUp.routed, after, 'flipped at warmTimeoutMs');
  assert.deepEqual(new Set(gaveUp.state.completed.map((c) => c.outcome)), new Set(['agent-lost']));
});

test('agentWaitMs 0 in a fleet that runs agents: a move to a node without a stream flips at once and starts no transition', () => {
  const before = mapOf(four);
  const after = mapOf([...four, ep('e')]);
  const s0 = step(undefined, before, T0);
  const s1 = step(s0, after, T0 + 1, { over: { agentWaitMs: 0 }, warmers: ABCD, agentsExpected: true });
  assert.equal(s1.routed, after);
  assert.deepEqual(s1.state.started, [], 'no transition started (none to count in keyway_handoff_transitions_*)');
  assert.deepEqual(s1.state.completed, [], 'none ended as agent-lost');
  assert.equal(s1.state.drains.length, gainedBy(before, after, 'e').length, 'the previous primaries drain');
});

/** e joins and warms its shards: their previous primaries drain. */
function drainedAfterMove(): { before: ShardMap; after: ShardMap; flipped: HandoffStep; gaining: number[] } {
  const before = mapOf(four);
  const after = mapOf([...four, ep('e')]);
  const gaining = gainedBy(before, after, 'e');
  const s1 = step(step(undefined, before, T0), after, T0 + 1);
  const warm = new WarmLedger();
  warm.record('e', gaining, T0 + 2);
  const flipped = step(s1, after, T0 + 3, { warm });
  assert.equal(flipped.routed, after);
  assert.deepEqual(flipped.state.drains.map((d) => d.shard), gaining);
  return { before, after, flipped, gaining };
}

test('a drain ends when its node leaves the topology', () => {
  const { before, flipped, gaining } = drainedAfterMove();
  const drainer = before.owners[gaining[0]!]![0]!;
  const without = mapOf([...four.filter((e) => e.id !== drainer), ep('e')]);
  const s = step(flipped, without, T0 + 4);
  assert.ok(s.state.drains.length > 0, 'other nodes still drain');
  assert.deepEqual(s.state.drains.filter((d) => d.node === drainer), [], `${drainer} left: it drains nothing`);
});

test('a drain ends when its node warms the shard again', () => {
  const { before, flipped, gaining } = drainedAfterMove();
  // e drains away: its shards go back to their former primaries, which warm them while e serves.
  const back = mapOf([...four, ep('e', { ready: false, draining: true })]);
  const s = step(flipped, back, T0 + 4);
  assert.deepEqual(s.state.transitions.map((t) => t.shard), gaining);
  for (const t of s.state.transitions) assert.equal(t.warming, before.owners[t.shard]![0]);
  assert.deepEqual(s.state.drains, [], 'a node warming a shard is not also draining it');
});
