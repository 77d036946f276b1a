// The example node's simulated serving capacity (examples/cache-node/serving-capacity.ts): data
// requests are served one after another at the given rate, so a burst queues. Lower bounds only:
// a busy machine can make the node slower, never faster.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ServingCapacity } from '../../../examples/cache-node/serving-capacity.js';
import { startCacheNodeServer } from '../../../examples/cache-node/server.js';
import type { Assignment } from '../../../examples/cache-node/agent-ownership.js';

test('serving capacity: requests queue in arrival order, each taking 1/rps of the node', async () => {
  const capacity = new ServingCapacity(100);
  const t0 = performance.now();
  const done: number[] = [];
  await Promise.all(Array.from({ length: 5 }, (_, i) => capacity.serve().then(() => done.push(i))));
  assert.deepEqual(done, [0, 1, 2, 3, 4]);
  const elapsed = performance.now() - t0;
  assert.ok(elapsed >= 49, `five requests at 100 a second took ${elapsed.toFixed(1)} ms, not 50`);
  assert.throws(() => new ServingCapacity(0), /positive number of requests per second, got 0/);
});

test('a node with --serve-rps serves a burst of data requests no faster than its rate; health checks do not queue', async (t) => {
  const node = await startCacheNodeServer({ id: 'n0', port: 0, host: '127.0.0.1', serveRps: 50, l3DelayMs: 0 });
  t.after(() => node.close());
  const t0 = performance.now();
  const answers = await Promise.all(Array.from({ length: 10 }, (_, i) => fetch(`${node.url}/kv/k${i}`).then((r) => r.status)));
  const elapsed = performance.now() - t0;
  assert.deepEqual(answers, Array(10).fill(200));
  assert.ok(elapsed >= 195, `10 requests at 50 a second took ${elapsed.toFixed(0)} ms, not 200`);
  // Queued behind nothing: the capacity is for data requests only, so a health check sent after a
  // burst is answered before the burst is done.
  let lastData = 0;
  const busy = Array.from({ length: 10 }, (_, i) => fetch(`${node.url}/kv/again${i}`).then(() => (lastData = performance.now())));
  assert.equal((await fetch(`${node.url}/healthz`)).status, 200);
  const health = performance.now();
  await Promise.all(busy);
  assert.ok(health < lastData, 'the health check waited for the queued data requests');
});

test('with --miss-cost a request not served from L1 takes that many service times', async (t) => {
  const node = await startCacheNodeServer({ id: 'n0', port: 0, host: '127.0.0.1', serveRps: 50, missCost: 3, l3DelayMs: 0 });
  t.after(() => node.close());
  const burst = async (): Promise<number> => {
    const t0 = performance.now();
    const tiers = await Promise.all(Array.from({ length: 5 }, (_, i) => fetch(`${node.url}/kv/m${i}`).then((r) => r.headers.get('x-cache-tier'))));
    return tiers.every((x) => x === 'l3') ? performance.now() - t0 : -1;
  };
  // Five misses at three service times of 20 ms each: 300 ms, where five hits would take 100.
  const misses = await burst();
  assert.ok(misses >= 295, `five misses took ${misses.toFixed(0)} ms, not 300`);
  // The same keys again are L1 hits: one service time each.
  const hits = await Promise.all(Array.from({ length: 5 }, (_, i) => fetch(`${node.url}/kv/m${i}`).then((r) => r.headers.get('x-cache-tier'))));
  assert.deepEqual(hits, Array(5).fill('l1'));
});

test('with --load-work the load reports count a miss as its service times and a hit as one; without, one each', async (t) => {
  const recorded = async (loadWork: boolean): Promise<number[]> => {
    const units: number[] = [];
    let set: ((a: ReadonlyMap<number, Assignment>) => void) | undefined;
    const assignments = new Map<number, Assignment>(Array.from({ length: 4 }, (_, shard) => [shard, { shard, shardCount: 4, role: 'primary', phase: 'serving', servingOwners: [], untilUnixMs: 0, reader: true }]));
    const node = await startCacheNodeServer({
      id: 'n0',
      port: 0,
      host: '127.0.0.1',
      l3DelayMs: 0,
      serveRps: 1000,
      missCost: 4,
      loadWork,
      keywayXds: ['127.0.0.1:1'],
      createAgent: (opts) => {
        set = (a) => opts.onChange?.(a);
        return {
          start: () => {},
          close: () => Promise.resolve(),
          assignments: () => assignments,
          shardCount: () => 4,
          connected: () => true,
          waitForHandoff: () => Promise.resolve(true),
          recordRequest: (_shard: number, n = 1) => void units.push(n),
        };
      },
    });
    t.after(() => node.close());
    set?.(assignments);
    // The first read misses (L3), the second hits L1.
    const tiers = [];
    for (let i = 0; i < 2; i++) tiers.push((await fetch(`${node.url}/kv/work-key`)).headers.get('x-cache-tier'));
    assert.deepEqual(tiers, ['l3', 'l1']);
    return units;
  };
  assert.deepEqual(await recorded(true), [4, 1]);
  assert.deepEqual(await recorded(false), [1, 1]);
});
