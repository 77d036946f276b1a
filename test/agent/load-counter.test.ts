// What the agent lists in a load report (docs/load-reports.md "With the agent library"): only
// shards keyway can take, since one it cannot take refuses the node's whole window.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Server, ServerCredentials } from '@grpc/grpc-js';
import type { LoadReport } from '../../src/core/load.js';
import { MAX_SHARD_COUNT } from '../../src/core/limits.js';
import { OwnershipAgent } from '../../src/agent/index.js';
import { LoadCounter } from '../../src/agent/load-counter.js';
import { SnapshotCache } from '../../src/xds/cache/index.js';
import { startXdsServer } from '../../src/xds/server/index.js';
import { checkConsistency, effectiveProxyClass, translate } from '../../src/xds/translator/index.js';
import { eventually } from '../support/eventually.js';
import { endpoint, handInput } from '../xds/translator/fixtures.js';

test('a request for what is not a shard below S counts in the total but is not listed', () => {
  let s: number | undefined = 16;
  const c = new LoadCounter('n', 1_000, 0, () => s);
  c.record(3, 2, 10);
  c.record(16, 5, 10); // not below S
  c.record(-1, 1, 10);
  c.record(2.5, 1, 10);
  c.record(12, 4, 10);
  s = 8; // keyway lowered S during the window: 12 is no longer a shard
  const [r] = c.take(1_000);
  assert.deepEqual(r!.shards, [{ shard: 3, requests: 2 }]);
  assert.equal(r!.totalRequests, 13);
});

test('before the node knows S, shards from the largest S keyway accepts on are not listed (they would not even encode as uint32)', () => {
  const c = new LoadCounter('n', 1_000, 0);
  c.record(5_000_000_000, 1, 10);
  c.record(MAX_SHARD_COUNT, 1, 10);
  c.record(MAX_SHARD_COUNT - 1, 1, 10);
  const [r] = c.take(1_000);
  assert.deepEqual(r!.shards, [{ shard: MAX_SHARD_COUNT - 1, requests: 1 }]);
  assert.equal(r!.totalRequests, 3);
});

test('counts stop at 2^53 - 1, the most a report may carry, and the listed shards never exceed the total', () => {
  const c = new LoadCounter('n', 1_000, 0);
  c.record(0, Number.MAX_SAFE_INTEGER, 10);
  c.record(1, Number.MAX_SAFE_INTEGER, 10);
  c.record(0, 7, 10);
  const [r] = c.take(1_000);
  assert.equal(r!.totalRequests, Number.MAX_SAFE_INTEGER);
  assert.ok(r!.shards.reduce((sum, x) => sum + x.requests, 0) <= r!.totalRequests);
  assert.equal(r!.shards.length, 1);
});

test('an agent that records a request for a shard past S still has its window accepted by keyway', async (t) => {
  const input = handInput([endpoint('a', '10.0.0.1'), endpoint('b', '10.0.0.2')], [['a', 'b'], ['b', 'a'], ['a', 'b'], ['b', 'a']]);
  const W = 200;
  const received: LoadReport[] = [];
  const server = await startXdsServer({
    cache: new SnapshotCache({ build: (c) => translate(input, c), checkConsistency, servedClass: effectiveProxyClass }),
    port: 0,
    host: '127.0.0.1',
    shardCount: () => 4,
    load: { windowMs: () => W, reportLoad: (r) => received.push(r) },
  });
  t.after(() => server.close());
  const refused: unknown[] = [];
  const agent = new OwnershipAgent({
    nodeId: 'a',
    servers: [`127.0.0.1:${server.port}`],
    timing: { loadWindowMs: W, backoffInitialMs: 20, backoffMaxMs: 200 },
    log: (r) => (r.msg === 'load report failed (logged once until it changes)' ? refused.push(r.err) : undefined),
  });
  t.after(() => agent.close());
  agent.start();
  await eventually('the assignments give S', () => agent.shardCount(), { accept: (s) => s === 4 });
  await eventually(
    'windows with requests are accepted',
    () => {
      agent.recordRequest(0, 2);
      agent.recordRequest(9); // a caller's bad shard: not one of keyway's 4
      return received.filter((r) => r.totalRequests > 0).length >= 2;
    },
    { timeoutMs: 5_000 },
  );
  assert.deepEqual(refused, []);
  for (const r of received) assert.deepEqual(r.shards.map((s) => s.shard), r.totalRequests >= 2 ? [0] : [], 'only shard 0 is listed');
  const total = received.reduce((n, r) => n + r.totalRequests, 0);
  const listed = received.reduce((n, r) => n + (r.shards[0]?.requests ?? 0), 0);
  assert.ok(total > listed, `the totals count the requests for shard 9 too (${total} > ${listed})`);
});

test('a replica that never answers ReportLoad is logged once, not at every window (deadline texts carry timings)', async (t) => {
  let calls = 0;
  const hung = new Server();
  hung.register('/keyway.v1.ShardOwnership/ReportLoad', () => void calls++, (x: Buffer) => x, (b: Buffer) => b, 'unary');
  const port = await new Promise<number>((resolve, reject) => hung.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))));
  t.after(() => hung.forceShutdown());
  const failures: unknown[] = [];
  const agent = new OwnershipAgent({
    nodeId: 'a',
    servers: [`127.0.0.1:${port}`],
    timing: { loadWindowMs: 100, reportDeadlineMs: 30, backoffInitialMs: 50, backoffMaxMs: 200 },
    log: (r) => (String(r.msg).startsWith('load report failed') ? failures.push(r.err) : undefined),
  });
  t.after(() => agent.close());
  agent.start();
  await eventually('six windows reported and timed out', () => calls >= 6 && failures.length > 0, { timeoutMs: 5_000 });
  await agent.close();
  assert.equal(failures.length, 1, `logged ${failures.length} times: ${failures.join(' | ')}`);
  assert.match(String(failures[0]), /DEADLINE_EXCEEDED/);
});
