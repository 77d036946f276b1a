// Full shard-map computations in a worker thread (src/app/pipeline-worker.ts): the same map as the
// inline computation, usable for incremental updates, the event loop free meanwhile, errors typed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Endpoint } from '../../src/core/endpoint.js';
import type { ShardingPolicy } from '../../src/core/policy.js';
import { KeywayError, KeywayErrors } from '../../src/core/errors.js';
import { applyEndpointChange, computeShardMap } from '../../src/sharding/index.js';
import { pipelineWorker } from '../../src/app/pipeline-worker.js';
import { parseConfig } from '../../src/config/index.js';

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
  const computer = pipelineWorker({ inlineShardWork: 0, inlineConfigBytes: 0 }); // everything goes to the worker
  try {
    for (const policy of [
      { shardCount: 1024, replicas: 3, spread: 'zone' },
      { shardCount: 512, replicas: 2, spread: 'subzone' },
    ] satisfies ShardingPolicy[]) {
      const endpoints = eps(60);
      const viaWorker = await computer.computeShardMap(endpoints, policy);
      assert.deepEqual(viaWorker, computeShardMap(endpoints, policy));
      const next = applyEndpointChange(viaWorker, { kind: 'upsert', endpoint: ep(500) });
      assert.deepEqual(next, computeShardMap([...endpoints, ep(500)], policy));
    }
  } finally {
    await computer.close();
  }
});

test('the event loop keeps turning while the worker computes a big map', async () => {
  const computer = pipelineWorker();
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
    const map = await computer.computeShardMap(eps(2000), policy);
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
  const computer = pipelineWorker({ inlineShardWork: 0, inlineConfigBytes: 0 });
  try {
    await assert.rejects(
      computer.computeShardMap(eps(300), { shardCount: 1_048_576, replicas: 255, spread: 'none' }),
      (e: unknown) => e instanceof KeywayError && e.code === 'BUDGET_EXCEEDED',
    );
    await assert.rejects(computer.computeShardMap([ep(1), ep(1)], { shardCount: 8, replicas: 1, spread: 'none' }), (e: unknown) => e instanceof KeywayError && e.code === 'DUPLICATE_ENDPOINT');
    await computer.computeShardMap(eps(3), { shardCount: 8, replicas: 1, spread: 'none' });
    await computer.close();
    const again = await computer.computeShardMap(eps(3), { shardCount: 8, replicas: 1, spread: 'none' });
    assert.equal(again.owners.length, 8);
  } finally {
    await computer.close();
  }
});

test('a topology file parsed in the worker gives what parseConfig gives, errors and locations included', async () => {
  const worker = pipelineWorker({ inlineShardWork: 0, inlineConfigBytes: 0 });
  try {
    const good = ['shards: 64', 'replicas: 2', 'endpoints:', '  - {id: a, address: 10.0.0.1, port: 7000, weight: 2}', '  - {id: b, address: 10.0.0.2, port: 7000}', ''].join('\n');
    assert.deepEqual(await worker.parseConfig(good, 'good.yaml'), parseConfig(good, 'good.yaml'));

    const bad = ['shards: 0', 'replicas: 2', 'endpoints:', '  - {id: a, address: 10.0.0.1, port: 99999}', ''].join('\n');
    const inline = (() => {
      try {
        parseConfig(bad, 'bad.yaml');
      } catch (err) {
        return err as KeywayErrors;
      }
      throw new Error('bad.yaml parsed');
    })();
    await assert.rejects(worker.parseConfig(bad, 'bad.yaml'), (err: unknown) => {
      assert.ok(err instanceof KeywayErrors);
      assert.deepEqual(err.errors.map((e) => e.toJSON()), inline.errors.map((e) => e.toJSON()));
      assert.equal(err.message, inline.message);
      return true;
    });

    // The `kubernetes:` section keeps its locator, which cannot cross threads.
    const k8s = ['shards: 64', 'kubernetes:', '  services: [cache]', ''].join('\n');
    const parsed = await worker.parseConfig(k8s, 'k8s.yaml');
    assert.equal(parsed.kubernetes?.locate(['services']).line, 3);
  } finally {
    await worker.close();
  }
});

test('a computation cut short by close() rejects with INTERNAL; the next one starts a new thread', async () => {
  const computer = pipelineWorker({ inlineShardWork: 0 });
  try {
    const cut = computer.computeShardMap(eps(1000), { shardCount: 16384, replicas: 2, spread: 'none' });
    await new Promise((r) => setTimeout(r, 50));
    await computer.close();
    await assert.rejects(cut, (err: unknown) => err instanceof KeywayError && err.code === 'INTERNAL' && /the pipeline worker was stopped/.test(err.message));
    const policy: ShardingPolicy = { shardCount: 64, replicas: 2, spread: 'none' };
    assert.deepEqual(await computer.computeShardMap(eps(10), policy), computeShardMap(eps(10), policy));
  } finally {
    await computer.close();
  }
});

test('a call made while close() stops the thread is answered by a new thread, which the next close() stops', async () => {
  const computer = pipelineWorker({ inlineShardWork: 0 });
  const policy: ShardingPolicy = { shardCount: 64, replicas: 2, spread: 'none' };
  try {
    await computer.computeShardMap(eps(10), policy); // a thread to stop
    const closing = computer.close();
    // A reload's parse that reached the worker while the runner shut it down, say: it is not the
    // stopped thread's request, and the thread it started must not be left running unowned.
    const later = computer.computeShardMap(eps(12), policy);
    await closing;
    assert.deepEqual(await later, computeShardMap(eps(12), policy));
  } finally {
    await computer.close();
  }
});
