// The agent's load reports (docs/load-reports.md "Sending reports"): requests counted with
// recordRequest are reported once per epoch-aligned window to every keyway replica, the node's
// hottest MAX_REPORTED_SHARDS shards with the window's total.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MAX_REPORTED_SHARDS, type LoadReport } from '../../src/core/load.js';
import { OwnershipAgent } from '../../src/agent/index.js';
import { LoadCounter } from '../../src/agent/load-counter.js';
import { SnapshotCache } from '../../src/xds/cache/index.js';
import { startXdsServer } from '../../src/xds/server/index.js';
import { checkConsistency, effectiveProxyClass, translate } from '../../src/xds/translator/index.js';
import { eventually } from '../support/eventually.js';
import { endpoint, handInput } from '../xds/translator/fixtures.js';

test('the counter closes a window into one report of its hottest shards, and an idle window into an empty one', () => {
  const c = new LoadCounter('n', 1_000, 5_500);
  for (let shard = 0; shard < MAX_REPORTED_SHARDS + 5; shard++) c.record(shard, shard + 1, 5_600);
  assert.deepEqual(c.take(5_999), [], 'the window is open');
  const [r] = c.take(6_000);
  assert.equal(r!.windowStartMs, 5_000);
  assert.equal(r!.shards.length, MAX_REPORTED_SHARDS);
  assert.equal(r!.shards[0]!.shard, 5, 'the 5 coldest are left out');
  assert.equal(r!.totalRequests, ((MAX_REPORTED_SHARDS + 5) * (MAX_REPORTED_SHARDS + 6)) / 2, 'the total counts every request');
  assert.deepEqual(c.take(7_000), [{ nodeId: 'n', windowStartMs: 6_000, windowMs: 1_000, totalRequests: 0, shards: [] }]);
});

test('recordRequest takes whole units only: a fractional or negative count is a TypeError naming it', () => {
  const agent = new OwnershipAgent({ nodeId: 'a', servers: ['127.0.0.1:1'], timing: { loadWindowMs: 1_000 } });
  agent.recordRequest(1, 4);
  assert.throws(() => agent.recordRequest(1, 2.5), /n must be a whole number >= 0 \(requests or work units\), got 2\.5/);
  assert.throws(() => agent.recordRequest(1, -1), TypeError);
});

test('the agent reports each window to every replica', async (t) => {
  const input = handInput([endpoint('a', '10.0.0.1'), endpoint('b', '10.0.0.2')], [['a', 'b'], ['b', 'a'], ['a', 'b'], ['b', 'a']]);
  const W = 200;
  const received: LoadReport[][] = [[], []];
  const servers = await Promise.all(
    received.map((into) =>
      startXdsServer({
        cache: new SnapshotCache({ build: (c) => translate(input, c), checkConsistency, servedClass: effectiveProxyClass }),
        port: 0,
        host: '127.0.0.1',
        shardCount: () => 4,
        load: { windowMs: () => W, reportLoad: (r) => into.push(r) },
      }),
    ),
  );
  t.after(() => Promise.all(servers.map((s) => s.close())));
  const agent = new OwnershipAgent({ nodeId: 'a', servers: servers.map((s) => `127.0.0.1:${s.port}`), timing: { loadWindowMs: W } });
  t.after(() => agent.close());
  agent.start();
  const started = Date.now();
  // Requests over ~3 windows: shard 0 three times as hot as shard 2.
  while (Date.now() - started < 3 * W) {
    agent.recordRequest(0, 3);
    agent.recordRequest(2);
    await new Promise((r) => setTimeout(r, 10));
  }
  await eventually('reports on both replicas', () => received.map((r) => r.filter((x) => x.totalRequests > 0).length), { accept: (n) => n.every((x) => x >= 2), timeoutMs: 10_000 });
  // The same report of each window to every replica. Windows closed together (a stalled event loop)
  // are sent together, so their order of arrival may differ between replicas: compared by window.
  const byWindow = (reports: readonly LoadReport[]) => new Map(reports.map((r) => [r.windowStartMs, r]));
  const [first, second] = [byWindow(received[0]!), byWindow(received[1]!)];
  const common = [...first.keys()].filter((w) => second.has(w));
  assert.ok(common.filter((w) => first.get(w)!.totalRequests > 0).length >= 1, 'a loaded window reached both replicas');
  for (const w of common) assert.deepEqual(first.get(w), second.get(w), `the same report of window ${w} to every replica`);
  for (const r of received[0]!) {
    assert.equal(r.windowStartMs % W, 0, 'epoch-aligned');
    if (r.totalRequests === 0) continue;
    const [s0, s2] = r.shards;
    assert.deepEqual([s0!.shard, s2!.shard], [0, 2]);
    assert.equal(s0!.requests, 3 * s2!.requests);
    assert.equal(r.totalRequests, s0!.requests + s2!.requests);
  }
});
