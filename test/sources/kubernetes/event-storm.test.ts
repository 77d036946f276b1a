/**
 * Event storms a real cluster makes, against the in-process API server with the real informers,
 * counted rather than timed: the object events the source took in, the recomputes and publishes
 * they cost (the debounce must coalesce them), and whether the endpoints in force equal the
 * cluster's once the storm is over (no pod lost or resurrected, none left not ready).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setImmediate as yieldTurn } from 'node:timers/promises';
import { KubeApiServer } from '../../support/kube-apiserver/index.js';
import { eventually } from '../../support/eventually.js';
import { type RunningSource, startSource, stopAfterEach } from './harness.js';
import { StormCluster } from './storm-cluster.js';

const started = stopAfterEach();

/** The recomputes since the source synced, from their debug lines, and the object events they coalesced. */
function recomputes(r: RunningSource): { count: number; events: number } {
  // The first is the initial sync's, of the whole first list.
  const lines = r.logs.filter((l) => l.msg === 'Kubernetes endpoints recomputed').slice(1);
  return { count: lines.length, events: lines.reduce((n, l) => n + (l.events as number), 0) };
}

async function caughtUp(r: RunningSource, cluster: StormCluster): Promise<void> {
  const expected = JSON.stringify(cluster.expected());
  await eventually('the endpoints equal the cluster', () => JSON.stringify(r.source.current()) === expected, {
    timeoutMs: 60_000,
    describe: () => ({ have: r.source.current().length, want: cluster.expected().length, problems: r.source.status().problems.slice(0, 3) }),
  });
}

test('a rolling restart of a 2000-pod StatefulSet over 20 slices, with a watch expiry (410) and relist mid-rollout', async () => {
  // History long enough that only the forced expiry makes a watch relist.
  const server = (started.server = await KubeApiServer.start({ historyLimit: 100_000 }));
  const cluster = new StormCluster(server, 2000, 250);
  const running = (started.running = await startSource(server, { holdOffMs: 30, maxDelayMs: 300 }));
  const r = running;
  assert.equal(r.source.current().length, 2000);
  const listsBefore = server.requests.filter((q) => q.verb === 'list').length;
  // Highest ordinal first, as the StatefulSet controller rolls; each pod: terminating, not serving,
  // out of its slice, deleted, recreated with a new uid and IP, ready (5 slice writes, 4 pod events).
  for (const [n, pod] of [...cluster.pods].reverse().entries()) {
    cluster.beginDelete(pod);
    cluster.finishDelete(pod);
    cluster.recreate(pod);
    cluster.becomeReady(pod);
    if (n === 1000) server.expireWatches();
    await yieldTurn();
  }
  await caughtUp(r, cluster);
  assert.ok(server.requests.filter((q) => q.verb === 'list').length > listsBefore, 'the expired watches relisted');
  assert.ok(r.source.current().every((e) => e.ready));
  assert.deepEqual(r.source.status().problems, []);
  const { count, events } = recomputes(r);
  // 18000 object events: 10000 slice writes, which all count (but for those the relist folds
  // together), and pod events, which count while a slice names the pod and change what the source
  // keeps (a pod's status turning ready does not). The debounce coalesced them into a few dozen
  // recomputes of the whole list (32 to 62 for about 16000 changes in runs here).
  assert.ok(events >= 9_000, `events ${events}`);
  assert.ok(count * 10 <= events, `${count} recomputes for ${events} events`);
  assert.ok(r.changes.length <= count, `${r.changes.length} publishes for ${count} recomputes`);
});

test('a node drain evicts 100 pods at once; they come back on another node', async () => {
  const server = (started.server = await KubeApiServer.start({ historyLimit: 100_000 }));
  const cluster = new StormCluster(server, 2000, 250);
  const running = (started.running = await startSource(server, { holdOffMs: 30, maxDelayMs: 300 }));
  const r = running;
  const evicted = cluster.pods.slice(0, 100);
  for (const p of evicted) cluster.beginDelete(p);
  for (const p of evicted) cluster.finishDelete(p);
  for (const p of evicted) cluster.recreate(p, 'gpu-3');
  for (const p of evicted) cluster.becomeReady(p);
  await caughtUp(r, cluster);
  assert.deepEqual(
    new Map(r.source.current().filter((e) => evicted.some((p) => p.name === e.id)).map((e) => [e.id, e.address])),
    new Map(evicted.map((p) => [p.name, p.ip])),
    'each evicted pod is listed once, at its new address',
  );
  const { count, events } = recomputes(r);
  // 9 events a pod: its 5 slice writes count; of its 4 pod events, the status turning ready
  // changes nothing the source keeps, and the others count while a slice names the pod.
  assert.ok(events >= 100 * 5 && events <= 100 * 8, `events ${events}`);
  assert.ok(count * 20 <= events, `${count} recomputes for ${events} events`);
  assert.ok(r.changes.length <= count);
});
