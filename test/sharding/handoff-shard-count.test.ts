// A change of the shard count S (docs/configuration.md "Reloading"): a shard number names other
// keys under the new S, so a warm report heard under the old S must not complete a move of the
// same shard number made under the new one.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Endpoint } from '../../src/core/endpoint.js';
import { DEFAULT_HANDOFF_SETTINGS, type HandoffSettings } from '../../src/core/handoff.js';
import type { ShardMap } from '../../src/core/shard-map.js';
import { computeShardMap } from '../../src/sharding/index.js';
import { stepHandoff, type HandoffStep } from '../../src/sharding/handoff.js';
import { WarmLedger } from '../../src/sharding/warm-ledger.js';
import { ep } from './handoff-fixtures.js';

const settings: HandoffSettings = { ...DEFAULT_HANDOFF_SETTINGS, warmTimeoutMs: 30_000, drainMs: 10_000 };
const T0 = 1_000_000;
const ALL = new Set(['a', 'b', 'c', 'd', 'e']);
const mapOf = (endpoints: Endpoint[], shardCount: number): ShardMap => computeShardMap(endpoints, { shardCount, replicas: 1, spread: 'none' });
const step = (previous: HandoffStep | undefined, target: ShardMap, now: number, warm: WarmLedger): HandoffStep =>
  stepHandoff({ previous, target, warm, warmers: ALL, agentsExpected: true, settings, now });

const four = ['a', 'b', 'c', 'd'].map((id) => ep(id));

test('a warm report heard under the old S does not flip a move of the same shard number under the new S', () => {
  const warm = new WarmLedger();
  const s0 = step(undefined, mapOf(four, 256), T0, warm);
  // Under S = 256, node e reported shards warm in the old form (no move named: an older agent),
  // and no move here used the reports (another replica's move, or one that flipped at its deadline).
  const reported = Array.from({ length: 128 }, (_, i) => i);
  warm.record('e', reported, T0 + 100);
  // S changes to 128: routed at once, nothing to hand off.
  const s1 = step(s0, mapOf(four, 128), T0 + 1_000, warm);
  assert.equal(s1.state.transitions.length, 0);
  // Within warmTimeoutMs, e joins: shards of the new numbering move to e and must wait for its warm-up.
  const after = mapOf([...four, ep('e')], 128);
  const gaining = after.owners.flatMap((o, s) => (o[0] === 'e' ? [s] : []));
  assert.ok(gaining.length > 10, `e gains ${gaining.length} shards`);
  const s2 = step(s1, after, T0 + 2_000, warm);
  assert.deepEqual(
    s2.state.transitions.map((t) => t.shard),
    gaining,
    'every move to e waits for a report made under the new S',
  );
  assert.deepEqual(s2.state.completed, []);
  for (const shard of gaining) assert.notEqual(s2.routed.owners[shard]?.[0], 'e', `shard ${shard} routed to e before it warmed`);
});

test('the same S keeps reports heard before this replica started the move (replicas see a change apart)', () => {
  const warm = new WarmLedger();
  const s0 = step(undefined, mapOf(four, 128), T0, warm);
  const after = mapOf([...four, ep('e')], 128);
  const gaining = after.owners.flatMap((o, s) => (o[0] === 'e' ? [s] : []));
  warm.record('e', gaining, T0 + 100);
  // A change that keeps S (a weight elsewhere) does not drop them.
  const s1 = step(s0, mapOf([ep('a', { weight: 2 }), ...four.slice(1)], 128), T0 + 500, warm);
  const s2 = step(s1, mapOf([ep('a', { weight: 2 }), ...four.slice(1), ep('e')], 128), T0 + 1_000, warm);
  const moved = s2.state.completed.filter((c) => c.warming === 'e' && c.outcome === 'warm').length;
  assert.ok(moved > 0, 'the reports heard before the move still flip it');
});

test('the reports a change of S clears come back when its step is rolled back (its publish threw)', () => {
  const warm = new WarmLedger();
  warm.record('e', [1, 2, 3], T0);
  warm.checkpoint();
  warm.clear();
  assert.equal(warm.size, 0);
  assert.equal(warm.nodes, 0);
  warm.rollback();
  assert.equal(warm.size, 3);
  for (const shard of [1, 2, 3]) assert.ok(warm.has('e', shard, T0));
});
