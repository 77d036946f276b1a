/**
 * Watches that the server (or a proxy in front of it) ends cleanly long before their
 * timeoutSeconds are re-opened with a growing backoff, not at once in a tight loop against the
 * API server; a watch that ends at its timeoutSeconds is renewed at once
 * (docs/kubernetes-discovery.md "When the API server goes away").
 */
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { test } from 'node:test';
import { eventually } from '../../support/eventually.js';
import { closingProxy } from './closing-proxy.js';
import { Cluster, startSource } from './harness.js';

test('a proxy that ends every watch cleanly at once: re-watches back off, and changes still arrive', async (t) => {
  const cluster = await Cluster.start();
  t.after(() => cluster.close());
  cluster.node('gpu-a1', { region: 'r1', zone: 'z1' });
  cluster.addPod('cache-node-0', { node: 'gpu-a1', ip: '10.0.0.10' });
  const proxy = await closingProxy(cluster.server.url, 5);
  t.after(() => proxy.close());
  const running = await startSource(cluster.server, {}, { kubeConfig: proxy.kubeConfig() }); // backoff 20 ms doubling to 200 ms
  t.after(() => running.source.stop());

  const watches = (): number => cluster.server.requests.filter((r) => r.verb === 'watch').length;
  const before = watches();
  await sleep(1_500);
  const rewatches = watches() - before;
  // Growing to 200 ms (drawn from 100..200): about 12 per resource in 1.5 s; at once, hundreds.
  assert.ok(rewatches <= 60, `${rewatches} watch requests in 1.5 s`);
  assert.equal(cluster.server.requests.filter((r) => r.verb === 'list').length, 3, 'a clean end resumes from the resourceVersion: no relist');
  assert.ok(
    running.logs.some((l) => typeof l.error === 'string' && /watch ended by the server after \d+ ms, before its timeoutSeconds/.test(l.error)),
    'the early ends are logged',
  );

  // Short as they are, the watches still carry the changes.
  cluster.addPod('cache-node-1', { node: 'gpu-a1', ip: '10.0.0.11' });
  await eventually('the new pod', () => running.source.current().length === 2, { timeoutMs: 5000, describe: () => running.source.current() });
});

test('a watch that ends at its timeoutSeconds is renewed at once, even with a long backoff', async (t) => {
  const cluster = await Cluster.start();
  t.after(() => cluster.close());
  cluster.node('gpu-a1', { region: 'r1', zone: 'z1' });
  cluster.addPod('cache-node-0', { node: 'gpu-a1', ip: '10.0.0.10' });
  // timeoutSeconds 1: the server ends each watch after a second; a backoff would wait 2.5 s or more.
  const running = await startSource(cluster.server, {}, { minWatchTimeoutSeconds: 1, backoff: { initialMs: 5_000, maxMs: 10_000 } });
  t.after(() => running.source.stop());
  const watches = (): number => cluster.server.requests.filter((r) => r.verb === 'watch').length;
  await eventually('each watch renewed twice', () => watches() >= 9, { timeoutMs: 4_000, describe: watches });
  assert.equal(running.source.status().healthy, true);
});
