/**
 * A watch that the API server accepts and then fails at once (an ERROR event, e.g. 500 from a
 * struggling watch cache) is retried with a backoff that grows: being accepted is not enough to
 * count as recovered, or every informer would relist every half second for as long as it lasts
 * (docs/kubernetes-discovery.md "When the API server goes away").
 */
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { test } from 'node:test';
import { eventually } from '../../support/eventually.js';
import { Cluster, startSource } from './harness.js';

test('watches accepted then failed at once: the backoff keeps growing, and resets once a watch stays up', async (t) => {
  const cluster = await Cluster.start();
  t.after(() => cluster.close());
  cluster.node('gpu-a1', { region: 'r1', zone: 'z1' });
  cluster.addPod('cache-node-0', { node: 'gpu-a1', ip: '10.0.0.10' });
  const running = await startSource(cluster.server); // backoff 20 ms doubling to 200 ms
  t.after(() => running.source.stop());
  await eventually('three watches', () => cluster.server.openWatches() === 3);

  const attempts = (): number => cluster.server.requests.filter((r) => r.resource === 'pods').length;
  const before = attempts();
  const until = Date.now() + 1_500;
  while (Date.now() < until) {
    if (cluster.server.openWatches() > 0) cluster.server.failWatches(500, 'InternalError', 'watch cache is re-initializing');
    await sleep(2);
  }
  const retries = attempts() - before;
  const pods = running.source.status().resources.find((r) => r.resource === 'pods')!;
  // Growing to 200 ms (drawn from 100..200): about 12 attempts in 1.5 s; without growth, about 100.
  assert.ok(retries <= 20, `${retries} list or watch requests for pods in 1.5 s`);
  assert.ok(pods.failures >= 5, `failures keep counting (${pods.failures})`);

  // A watch that stays up (backoff.maxMs) counts as recovered: the count starts again.
  await eventually('failures reset', () => running.source.status().resources.every((r) => r.failures === 0 && r.connected), {
    timeoutMs: 5000,
    describe: () => running.source.status().resources,
  });
  assert.equal(running.source.current().length, 1);
});
