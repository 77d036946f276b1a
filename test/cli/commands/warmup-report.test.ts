// `keyway diff`'s warm-up section (docs/cli.md "Warm-up"): the planner's view of a change.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { warmupReport } from '../../../src/cli/commands/warmup-report.js';
import { DEFAULT_HANDOFF_SETTINGS } from '../../../src/core/handoff.js';
import { computeShardMap } from '../../../src/sharding/index.js';
import { ep } from '../../sharding/handoff-fixtures.js';

const policy = { shardCount: 512, replicas: 2, spread: 'none' as const };
const four = ['a', 'b', 'c', 'd'].map((id) => ep(id));
const primaryChanges = (from: ReturnType<typeof computeShardMap>, to: ReturnType<typeof computeShardMap>): number =>
  to.owners.filter((o, s) => o[0] !== from.owners[s]?.[0]).length;

test('scale-out: every primary change is a two-phase move, warmed by the new node from the previous primaries', () => {
  const from = computeShardMap(four, policy);
  const to = computeShardMap([...four, ep('e')], policy);
  const r = warmupReport(from, to, DEFAULT_HANDOFF_SETTINGS)!;
  assert.equal(r.twoPhase, primaryChanges(from, to));
  assert.equal(r.immediate, 0);
  assert.deepEqual(r.byNode.map((n) => n.node), ['e']);
  assert.equal(Object.values(r.byNode[0]!.from).reduce((a, b) => a + b, 0), r.twoPhase);
  assert.deepEqual(Object.keys(r.byNode[0]!.from), ['a', 'b', 'c', 'd']);
});

test('a removed node moves at once; a draining one hands off in two phases; handoff off says so', () => {
  const from = computeShardMap(four, policy);
  const removed = computeShardMap(four.filter((e) => e.id !== 'b'), policy);
  const r1 = warmupReport(from, removed, DEFAULT_HANDOFF_SETTINGS)!;
  assert.deepEqual([r1.twoPhase, r1.immediate], [0, primaryChanges(from, removed)]);
  const draining = computeShardMap(four.map((e) => (e.id === 'b' ? { ...e, ready: false, draining: true } : e)), policy);
  const r2 = warmupReport(from, draining, DEFAULT_HANDOFF_SETTINGS)!;
  assert.deepEqual([r2.twoPhase, r2.immediate], [primaryChanges(from, draining), 0]);
  assert.ok(r2.byNode.every((n) => Object.keys(n.from).join() === 'b'), 'every shard warms from the draining node');
  const off = warmupReport(from, draining, { ...DEFAULT_HANDOFF_SETTINGS, enabled: false })!;
  assert.deepEqual([off.enabled, off.twoPhase, off.immediate], [false, 0, primaryChanges(from, draining)]);
  assert.equal(warmupReport(from, computeShardMap(four, { ...policy, shardCount: 256 }), DEFAULT_HANDOFF_SETTINGS), undefined);
});
