// planShardMap runs its incremental step on the caller's thread (the runner's event loop), so a step
// that costs a full computation must be left to the caller's full computation, which runs in the
// worker (docs/security.md "Work budget"): the change of an endpoint owning most shards, and the
// rebuild of an outgrown intern table. Both were computed inline: 2.5 s at 131072 x 1 x 1024.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Endpoint } from '../../src/core/endpoint.js';
import type { ShardingPolicy } from '../../src/core/policy.js';
import { computeShardMap, planShardMap, type ShardMap } from '../../src/sharding/index.js';
import { incrementalWork } from '../../src/sharding/incremental.js';
import { MAX_INLINE_INCREMENTAL_WORK } from '../../src/sharding/next-map.js';
import { internTableSize } from '../../src/sharding/shard-map-state.js';

const ep = (id: string, weight = 1, over: Partial<Endpoint> = {}): Endpoint => ({
  id,
  address: '10.0.0.1',
  port: 7000,
  locality: { region: 'r', zone: 'z', subzone: 'f' },
  weight,
  ready: true,
  ...over,
});

test('an endpoint that owns most shards turning not ready is left to the full computation, not run inline', () => {
  const policy: ShardingPolicy = { shardCount: 16384, replicas: 1, spread: 'none' };
  const others = Array.from({ length: 511 }, (_, i) => ep(`n${i}`));
  const heavy = ep('heavy', 1e6);
  const map = computeShardMap([heavy, ...others], policy);
  const down = [{ ...heavy, ready: false }, ...others];
  // Every shard it owned is scored again over 511 endpoints: the whole map's work.
  assert.ok(incrementalWork(map, { kind: 'upsert', endpoint: down[0]! }) > MAX_INLINE_INCREMENTAL_WORK);
  assert.equal(planShardMap(map, down, policy).mode, 'full');
  assert.equal(planShardMap(map, others, policy).mode, 'full', 'its removal too');
  // The cheap steps stay incremental and exact: an ordinary endpoint leaving or growing, the heavy
  // one's address changing.
  const grown = [heavy, { ...others[0]!, weight: 3 }, ...others.slice(1)];
  for (const list of [[heavy, ...others.slice(1)], grown, [{ ...heavy, address: '10.0.0.2' }, ...others]]) {
    const step = planShardMap(map, list, policy);
    assert.equal(step.mode, 'incremental');
    assert.deepEqual(step.mode === 'incremental' && step.map, computeShardMap(list, policy));
  }
});

test('a change that would rebuild an outgrown intern table is left to the full computation', () => {
  const policy: ShardingPolicy = { shardCount: 64, replicas: 2, spread: 'zone' };
  const pod = (g: number, i: number): Endpoint => ep(`pod-${g}-${i}`, 1 + i, { locality: { region: 'r', zone: `z${i % 2}`, subzone: `f${i}` } });
  let list = Array.from({ length: 4 }, (_, i) => pod(0, i));
  let map: ShardMap = computeShardMap(list, policy);
  const modes = new Set<string>();
  // Pods with new names come and go (a Deployment's rollouts): every id stays in the lineage's table.
  for (let g = 1; g <= 40; g++) {
    for (let i = 0; i < 4; i++) {
      for (const next of [[...list, pod(g, i)], [...list, pod(g, i)].filter((e) => e.id !== `pod-${g - 1}-${i}`)]) {
        list = next;
        const step = planShardMap(map, list, policy);
        modes.add(step.mode);
        map = step.mode === 'full' ? computeShardMap(list, policy) : step.map;
        assert.ok(internTableSize(map)! <= 4 * list.length + 64 + 3, `the table holds ${internTableSize(map)} entries`);
      }
    }
  }
  assert.deepEqual(map, computeShardMap(list, policy));
  assert.ok(modes.has('full'), 'the rebuild was a full step');
});
