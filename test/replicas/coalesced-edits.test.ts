// Two replicas' planners fed the same final topology, one seeing an intermediate edit the other's
// source coalesced (docs/architecture.md "One data path": only the latest waiting input is
// computed). With R = 2 the intermediate edit changes a shard's replica, which flips at once, and
// the next one moves its primary: the shard is held on "its previous owners", whose replicas then
// differ (docs/ownership.md "Replicas agree"). What must agree: the shards in transition and each
// shard's primary, so requests reach the same node on both.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_HANDOFF_SETTINGS } from '../../src/core/handoff.js';
import type { ShardMap } from '../../src/core/shard-map.js';
import { computeShardMap } from '../../src/sharding/index.js';
import { stepHandoff, type HandoffStep } from '../../src/sharding/handoff.js';
import { WarmLedger } from '../../src/sharding/warm-ledger.js';
import { ep } from '../sharding/handoff-fixtures.js';

const policy = { shardCount: 256, replicas: 2, spread: 'none' } as const;
const ids = ['a', 'b', 'c', 'd', 'e'];
const mapOf = (w: Record<string, number>): ShardMap => computeShardMap(ids.map((id) => ep(id, { weight: w[id] ?? 1 })), policy);

function replay(targets: readonly ShardMap[]): HandoffStep {
  const ledger = new WarmLedger();
  let step: HandoffStep | undefined;
  targets.forEach((target, i) => {
    step = stepHandoff({ previous: step, target, warm: ledger, warmers: new Set(ids), agentsExpected: true, settings: DEFAULT_HANDOFF_SETTINGS, now: i * 100 });
  });
  return step!;
}

test('weights edited twice, one replica seeing only the second edit: same transitions, same primaries', () => {
  const [w0, w1, w2] = [mapOf({}), mapOf({ a: 1.5 }), mapOf({ a: 1.5, b: 2 })];
  const a = replay([w0, w1, w2]);
  const b = replay([w0, w2]);
  assert.ok(a.state.transitions.length > 0, 'the second edit moves primaries');
  assert.deepEqual(a.state.transitions.map((t) => t.shard), b.state.transitions.map((t) => t.shard));
  assert.deepEqual(
    a.routed.owners.map((o) => o[0]),
    b.routed.owners.map((o) => o[0]),
  );
});
