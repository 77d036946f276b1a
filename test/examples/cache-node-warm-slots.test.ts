/**
 * The node runs a bounded number of warm-ups at once (warm-slots.ts): the agent starts every gained
 * shard's warm-up together, and a peer asked for all of them at once answered the last ones past
 * the fetch timeout, so those shards were reported warm with nothing copied.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { startCacheNodeServer } from '../../examples/cache-node/server.js';
import { DEFAULT_WARM_CONCURRENCY, WarmSlots } from '../../examples/cache-node/warm-slots.js';
import { standInAgent, startPeer } from './cache-node-support.js';

const S = 64;

test('a node gaining many shards at once asks its peer for a few at a time, and every warm-up copies', async (t) => {
  let inFlight = 0;
  let most = 0;
  const port = await startPeer(t, (req, res) => {
    inFlight++;
    most = Math.max(most, inFlight);
    const shard = Number(new URL(req.url ?? '/', 'http://peer').searchParams.get('shard'));
    // A peer that answers each request in 20 ms (its L1 scan), however many wait.
    setTimeout(() => {
      inFlight--;
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ node: 'src', shard, entries: [] }));
    }, 20);
  });
  const agent = standInAgent(S);
  const assignments = agent.assignments;
  const logs: Record<string, unknown>[] = [];
  const node = await startCacheNodeServer({ id: 'dst', keywayXds: ['127.0.0.1:1'], createAgent: agent.create, l3DelayMs: 0, log: (r) => logs.push(r) });
  t.after(() => node.close());
  const until = Date.now() + 30_000;
  for (let shard = 0; shard < S; shard++) {
    assignments.set(shard, { shard, shardCount: S, role: 'primary', phase: 'warming', servingOwners: [{ id: 'src', address: '127.0.0.1', port }], untilUnixMs: until, reader: true });
  }
  agent.options().onChange?.(assignments);
  await Promise.all([...assignments.values()].map((a) => agent.options().warm!(a, new AbortController().signal)));
  assert.ok(most <= DEFAULT_WARM_CONCURRENCY, `${most} warm requests at once at the peer`);
  assert.equal(logs.filter((r) => r.msg === 'warmed shard' && r.from === 'src').length, S);
});

test('a warm-up aborted while it waits for a slot leaves the queue at once with the abort reason', async () => {
  const slots = new WarmSlots(1);
  let release!: () => void;
  const first = slots.run(new AbortController().signal, () => new Promise<void>((resolve) => (release = resolve)));
  const aborter = new AbortController();
  let ran = false;
  const queued = slots.run(aborter.signal, async () => {
    ran = true;
  });
  const third = slots.run(new AbortController().signal, () => Promise.resolve('third'));
  await sleep(10);
  aborter.abort(new Error('flipped'));
  await assert.rejects(queued, /flipped/);
  release();
  await first;
  assert.equal(await third, 'third');
  assert.equal(ran, false);
  assert.throws(() => new WarmSlots(0), /warm-up concurrency must be an integer >= 1, got 0/);
});
