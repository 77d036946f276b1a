// Full shard-map computations in a worker thread (src/app/shard-worker.ts): the same map as the
// inline computation, usable for incremental updates, the event loop free meanwhile, errors typed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Endpoint } from '../../src/core/endpoint.js';
import type { ShardingPolicy } from '../../src/core/policy.js';
import { KeywayError } from '../../src/core/errors.js';
import { applyEndpointChange, computeShardMap } from '../../src/sharding/index.js';
import { shardMapComputer } from '../../src/app/shard-worker.js';

const ep = (i: number): Endpoint => ({
  id: `cache-${i}`,
  address: `10.1.${(i >> 8) & 255}.${i & 255}`,
  port: 6379,
  locality: { region: 'r', zone: `z${i % 3}`, subzone: `nvl-${i % 5}` },
  weight: 1 + (i % 3),
  ready: i % 13 !== 0,
});
const eps = (n: number): Endpoint[] => Array.from({ length: n }, (_, i) => ep(i));

test('a map computed in the worker equals the inline one and takes incremental updates', async () => {
  const computer = shardMapComputer({ inlineBelow: 0 }); // everything goes to the worker
  try {
    for (const policy of [
      { shardCount: 1024, replicas: 3, spread: 'zone' },
      { shardCount: 512, replicas: 2, spread: 'subzone' },
    ] satisfies ShardingPolicy[]) {
      const endpoints = eps(60);
      const viaWorker = await computer.compute(endpoints, policy);
      assert.deepEqual(viaWorker, computeShardMap(endpoints, policy));
      const next = applyEndpointChange(viaWorker, { kind: 'upsert', endpoint: ep(500) });
      assert.deepEqual(next, computeShardMap([...endpoints, ep(500)], policy));
    }
  } finally {
    await computer.close();
  }
});

test('the event loop keeps turning while the worker computes a big map', async () => {
  const computer = shardMapComputer();
  const policy: ShardingPolicy = { shardCount: 16384, replicas: 2, spread: 'none' };
  try {
    let longest = 0;
    let last = performance.now();
    const timer = setInterval(() => {
      const now = performance.now();
      longest = Math.max(longest, now - last);
      last = now;
    }, 10);
    const t0 = performance.now();
    const map = await computer.compute(eps(2000), policy);
    const took = performance.now() - t0;
    clearInterval(timer);
    assert.equal(map.owners.length, 16384);
    // The computation takes seconds here; inline the loop would stall that long.
    assert.ok(longest < Math.max(400, took / 3), `the event loop stalled ${longest.toFixed(0)} ms of ${took.toFixed(0)} ms`);
  } finally {
    await computer.close();
  }
});

test('input errors are thrown before any thread work; a closed computer starts again', async () => {
  const computer = shardMapComputer({ inlineBelow: 0 });
  try {
    await assert.rejects(
      computer.compute(eps(300), { shardCount: 1_048_576, replicas: 255, spread: 'none' }),
      (e: unknown) => e instanceof KeywayError && e.code === 'BUDGET_EXCEEDED',
    );
    await assert.rejects(computer.compute([ep(1), ep(1)], { shardCount: 8, replicas: 1, spread: 'none' }), (e: unknown) => e instanceof KeywayError && e.code === 'DUPLICATE_ENDPOINT');
    await computer.compute(eps(3), { shardCount: 8, replicas: 1, spread: 'none' });
    await computer.close();
    const again = await computer.compute(eps(3), { shardCount: 8, replicas: 1, spread: 'none' });
    assert.equal(again.owners.length, 8);
  } finally {
    await computer.close();
  }
});
