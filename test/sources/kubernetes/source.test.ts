/**
 * The Kubernetes source end to end against the in-process API server, with the real
 * @kubernetes/client-node informers: each scenario changes the cluster and asserts the resulting
 * endpoint list (docs/kubernetes-discovery.md).
 */
import assert from 'node:assert/strict';
import { afterEach, beforeEach, test } from 'node:test';
import type { Endpoint } from '../../../src/core/endpoint.js';
import { KeywayError } from '../../../src/core/errors.js';
import { NS, SERVICE } from './fixtures.js';
import { Cluster, ep, type RunningSource, startSource } from './harness.js';
import { eventually } from '../../support/eventually.js';

let cluster: Cluster;
let running: RunningSource | undefined;

const A1: [string, string, string] = ['r1', 'z1', 'fab-a'];
const A2: [string, string, string] = ['r1', 'z1', 'fab-a'];
const B1: [string, string, string] = ['r1', 'z2', 'fab-b'];

beforeEach(async () => {
  cluster = await Cluster.start();
  cluster.node('gpu-a1', { region: 'r1', zone: 'z1', clique: 'fab-a', gpuMemoryMiB: '81920', gpuCount: '8' }); // 640 GiB
  cluster.node('gpu-a2', { region: 'r1', zone: 'z1', clique: 'fab-a', gpuMemoryMiB: '81920', gpuCount: '4' }); // 320 GiB
  cluster.node('gpu-b1', { region: 'r1', zone: 'z2', clique: 'fab-b', gpuMemoryMiB: '49152', gpuCount: '8' }); // 384 GiB
  cluster.addPod('cache-node-0', { node: 'gpu-a1', ip: '10.0.0.10' }, false);
  cluster.addPod('cache-node-1', { node: 'gpu-a2', ip: '10.0.0.11' }, false);
  cluster.addPod('cache-node-2', { node: 'gpu-b1', ip: '10.0.0.12' });
});

afterEach(async () => {
  await running?.source.stop();
  running = undefined;
  await cluster.close();
});

const INITIAL: Endpoint[] = [
  ep('cache-node-0', '10.0.0.10', A1, 640),
  ep('cache-node-1', '10.0.0.11', A2, 320),
  ep('cache-node-2', '10.0.0.12', B1, 384),
];

function current(): readonly Endpoint[] {
  return running!.source.current();
}

function same(expected: readonly Endpoint[]): () => boolean {
  return () => JSON.stringify(current()) === JSON.stringify(expected);
}

test('initial sync: endpoints with locality from node labels and weight from GPU labels; only list/watch of the three resources', async () => {
  running = await startSource(cluster.server);
  assert.deepEqual(current(), INITIAL);
  const st = running.source.status();
  assert.equal(st.kind, 'kubernetes');
  assert.equal(st.healthy, true);
  assert.equal(st.stale, false);
  assert.deepEqual(st.problems, []);
  assert.ok(st.lastUpdate instanceof Date);
  await eventually('three watches', () => cluster.server.openWatches() === 3);

  // What the source asks for is exactly what its RBAC must grant (docs/kubernetes-discovery.md).
  const asked = new Set(cluster.server.requests.map((r) => `${r.method} ${r.verb} ${r.group}/${r.resource} ns=${r.namespace ?? '*'}`));
  assert.deepEqual([...asked].sort(), [
    'GET list /nodes ns=*',
    `GET list /pods ns=${NS}`,
    `GET list discovery.k8s.io/endpointslices ns=${NS}`,
    'GET watch /nodes ns=*',
    `GET watch /pods ns=${NS}`,
    `GET watch discovery.k8s.io/endpointslices ns=${NS}`,
  ]);
  const sliceReqs = cluster.server.requests.filter((r) => r.resource === 'endpointslices');
  assert.ok(sliceReqs.every((r) => r.query.labelSelector === `kubernetes.io/service-name=${SERVICE}`));
  assert.ok(cluster.server.requests.filter((r) => r.verb === 'watch').every((r) => r.query.allowWatchBookmarks === 'true' && Number(r.query.timeoutSeconds) >= 60));

  await running.source.stop();
  await eventually('watches closed after stop()', () => cluster.server.openWatches() === 0, { timeoutMs: 5000, describe: () => cluster.server.requests.map((r) => `${r.verb} ${r.resource} ${r.status} ${r.query.resourceVersion}`) });
});

test('scale up and down', async () => {
  running = await startSource(cluster.server);
  cluster.node('gpu-b2', { region: 'r1', zone: 'z2', clique: 'fab-b', gpuMemoryMiB: '49152', gpuCount: '4' });
  cluster.addPod('cache-node-3', { node: 'gpu-b2', ip: '10.0.0.13' });
  const up = [...INITIAL, ep('cache-node-3', '10.0.0.13', B1, 192)];
  await eventually('scale up to 4', same(up), { timeoutMs: 5000, describe: current });
  assert.deepEqual(running.changes.at(-1), up);

  cluster.removePod('cache-node-1');
  cluster.removePod('cache-node-3');
  const down = [INITIAL[0]!, INITIAL[2]!];
  await eventually('scale down to 2', same(down), { timeoutMs: 5000, describe: current });
  assert.deepEqual(running.changes.at(-1), down);
});

test('a pod turning not ready, then terminating: listed but not ready; serving does not keep a terminating pod', async () => {
  running = await startSource(cluster.server);
  cluster.setConditions('cache-node-1', { ready: false, serving: false });
  const notReady = [INITIAL[0]!, { ...INITIAL[1]!, ready: false }, INITIAL[2]!];
  await eventually('cache-node-1 not ready', same(notReady), { timeoutMs: 5000, describe: current });

  cluster.setConditions('cache-node-1', { ready: true, serving: true });
  await eventually('cache-node-1 ready again', same(INITIAL), { timeoutMs: 5000, describe: current });

  // Deletion starts: the pod gets a deletionTimestamp; keyway releases it before the slice even says
  // so. It still serves, so it is draining: a planned departure whose shards are handed off.
  const draining = [INITIAL[0]!, { ...INITIAL[1]!, ready: false, draining: true }, INITIAL[2]!];
  cluster.updatePod('cache-node-1', { deletionTimestamp: new Date().toISOString() });
  await eventually('cache-node-1 released on deletionTimestamp', same(draining), { timeoutMs: 5000, describe: current });
  // The controller marks it terminating but still serving while it drains: still owns nothing.
  cluster.setConditions('cache-node-1', { ready: false, serving: true, terminating: true });
  // A later change on the same slice watch: once it shows, the terminating update was processed.
  cluster.addPod('cache-node-5', { node: 'gpu-b1', ip: '10.0.0.15' });
  await eventually('cache-node-5 listed', () => current().some((e) => e.id === 'cache-node-5'));
  assert.deepEqual(current(), [...draining, ep('cache-node-5', '10.0.0.15', B1, 384)]);
  // It stops serving (the process exits): no longer draining, a plain not-ready endpoint.
  cluster.setConditions('cache-node-1', { ready: false, serving: false, terminating: true });
  await eventually('cache-node-1 stopped serving', same([...notReady, ep('cache-node-5', '10.0.0.15', B1, 384)]), { timeoutMs: 5000, describe: current });

  cluster.removePod('cache-node-1');
  await eventually('cache-node-1 gone', same([INITIAL[0]!, INITIAL[2]!, ep('cache-node-5', '10.0.0.15', B1, 384)]), { timeoutMs: 5000, describe: current });
});

test('terminating: while-serving keeps a terminating pod while it serves', async () => {
  running = await startSource(cluster.server, { terminating: 'while-serving' });
  cluster.updatePod('cache-node-1', { deletionTimestamp: new Date().toISOString() });
  cluster.setConditions('cache-node-1', { ready: false, serving: true, terminating: true });
  cluster.setConditions('cache-node-2', { ready: false, serving: false });
  await eventually('cache-node-2 not ready', same([INITIAL[0]!, INITIAL[1]!, { ...INITIAL[2]!, ready: false }]), { timeoutMs: 5000, describe: current });
  cluster.setConditions('cache-node-1', { serving: false });
  await eventually('cache-node-1 stops serving', same([INITIAL[0]!, { ...INITIAL[1]!, ready: false }, { ...INITIAL[2]!, ready: false }]), { timeoutMs: 5000, describe: current });
});

test('a node relabelled into another fabric moves its endpoints to that subzone', async () => {
  running = await startSource(cluster.server);
  cluster.node('gpu-a2', { region: 'r1', zone: 'z1', clique: 'fab-c', gpuMemoryMiB: '81920', gpuCount: '4' });
  const moved = [INITIAL[0]!, ep('cache-node-1', '10.0.0.11', ['r1', 'z1', 'fab-c'], 320), INITIAL[2]!];
  await eventually('cache-node-1 in fab-c', same(moved), { timeoutMs: 5000, describe: current });
  assert.deepEqual(running.changes, [moved]);
});

test('a malformed weight annotation is reported on the pod, falls back to the GPU labels, and clears when fixed', async () => {
  running = await startSource(cluster.server);
  cluster.updatePod('cache-node-2', { annotations: { 'keyway.io/weight': 'lots' } });
  await eventually('a problem', () => running!.source.status().problems.length > 0);
  assert.deepEqual(current(), INITIAL); // 384 from GPU labels: the source did not crash or drop the pod
  assert.deepEqual(running.source.status().problems.map((p) => [p.reason, p.kind, p.namespace, p.name, p.value]), [
    ['bad-weight-annotation', 'Pod', NS, 'cache-node-2', 'lots'],
  ]);
  const warning = running.logs.find((l) => l.level === 40 && String(l.msg).includes('cache-node-2') && String(l.msg).includes('lots'));
  assert.ok(warning, 'a warning names the pod and the bad value');

  cluster.updatePod('cache-node-2', { annotations: { 'keyway.io/weight': '12.5' } });
  await eventually('annotation weight', same([INITIAL[0]!, INITIAL[1]!, { ...INITIAL[2]!, weight: 12.5 }]), { timeoutMs: 5000, describe: current });
  assert.deepEqual(running.source.status().problems, []);
});

for (const mode of ['refuse', 'unavailable'] as const) {
  test(`the API server gone for a while (${mode}) and back: last endpoints kept, stale flagged, recovers`, async () => {
    running = await startSource(cluster.server);
    await eventually('watches open', () => cluster.server.openWatches() === 3);
    const reported: Error[] = [];
    running.source.onError((e) => reported.push(e));
    const before = Date.now();
    assert.equal(reported.length, 0, 'no error while the API server answers');
    await cluster.server.goDown(mode);
    await eventually('stale', () => running!.source.status().stale);
    // Changes made while keyway cannot see them.
    cluster.removePod('cache-node-0');
    cluster.node('gpu-b1', { region: 'r1', zone: 'z2', clique: 'fab-d', gpuMemoryMiB: '49152', gpuCount: '8' });
    // Several retries fail (backoff), and the last known endpoints stay in force all along.
    await eventually('three failed retries per resource', () => running!.source.status().resources.every((r) => r.failures >= 3), { timeoutMs: 5000, describe: () => running!.source.status().resources });
    const st = running.source.status();
    assert.equal(st.stale, true);
    assert.equal(st.healthy, false);
    assert.ok(st.staleSince instanceof Date && st.staleSince.getTime() >= before - 5 && st.staleSince.getTime() <= Date.now());
    assert.match(st.lastError ?? '', mode === 'refuse' ? /ECONNREFUSED/ : /503/);
    assert.deepEqual(current(), INITIAL);
    assert.deepEqual(running.changes, []);
    // Every retried API failure is reported (keyway_source_errors_total{source="kubernetes"}).
    assert.ok(reported.every((e) => e instanceof KeywayError && e.code === 'SOURCE_UNAVAILABLE'));
    for (const r of ['endpointslices', 'pods', 'nodes']) {
      // Three failures are at least two retried attempts (one attempt may fail its list and its watch).
      const n = reported.filter((e) => e.message.startsWith(`Kubernetes API error on ${r}: `)).length;
      assert.ok(n >= 2, `retries of ${r} reported: ${n}`);
    }

    await cluster.server.comeUp();
    const after = [ep('cache-node-1', '10.0.0.11', A2, 320), ep('cache-node-2', '10.0.0.12', ['r1', 'z2', 'fab-d'], 384)];
    await eventually('the changes made during the outage', same(after), { timeoutMs: 5000, describe: current });
    await eventually('healthy again', () => !running!.source.status().stale && running!.source.status().healthy);
    assert.equal(running.source.status().staleSince, undefined);
  });
}

test('a silently dead API server (connections open, nothing answered): the watchdog flags stale, then recovers', async () => {
  running = await startSource(cluster.server, {}, { minWatchTimeoutSeconds: 1, watchGraceMs: 500, listTimeoutMs: 800 });
  await eventually('watches open', () => cluster.server.openWatches() === 3);
  await cluster.server.goDown('hang');
  cluster.removePod('cache-node-2');
  // The frozen watches outlive timeoutSeconds (1 s) + grace; re-watches get no headers within 800 ms.
  await eventually('stale', () => running!.source.status().stale, { timeoutMs: 8000 });
  await eventually('retries time out too', () => running!.source.status().resources.every((r) => r.failures >= 2), { timeoutMs: 8000, describe: () => running!.source.status().resources });
  assert.deepEqual(current(), INITIAL);
  await cluster.server.comeUp();
  await eventually('the change made while hung', same([INITIAL[0]!, INITIAL[1]!]), { timeoutMs: 8000, describe: current });
  await eventually('healthy again', () => running!.source.status().healthy);
});

test('a watch that expires (410 Gone): the informer relists and no event is lost', async () => {
  running = await startSource(cluster.server);
  await eventually('watches open', () => cluster.server.openWatches() === 3);
  const lists = (): number => cluster.server.requests.filter((r) => r.verb === 'list').length;
  assert.equal(lists(), 3);

  // 1. Open watches get an ERROR event with Status 410 Expired; changes follow right away.
  cluster.server.expireWatches();
  cluster.removePod('cache-node-0');
  cluster.addPod('cache-node-4', { node: 'gpu-a1', ip: '10.0.0.14' });
  const afterExpiry = [INITIAL[1]!, INITIAL[2]!, ep('cache-node-4', '10.0.0.14', A1, 640)];
  await eventually('changes after expiry', same(afterExpiry), { timeoutMs: 5000, describe: current });
  await eventually('one relist per resource', () => lists() === 6, { timeoutMs: 5000, describe: lists });

  // 2. Missed events: the server is away while pods change, then its history is compacted, so
  // the informer's resume from its old resourceVersion gets 410 and only a relist (which must
  // turn the vanished pod into a delete) can catch up.
  await eventually('watches open again', () => cluster.server.openWatches() === 3);
  await cluster.server.goDown('unavailable');
  await eventually('stale', () => running!.source.status().stale);
  cluster.removePod('cache-node-4');
  cluster.setConditions('cache-node-2', { ready: false, serving: false });
  cluster.server.compact();
  await cluster.server.comeUp();
  await eventually('changes missed by the watch', same([INITIAL[1]!, { ...INITIAL[2]!, ready: false }]), { timeoutMs: 5000, describe: current });
  await eventually('a second relist per resource', () => lists() === 9, { timeoutMs: 5000, describe: lists });
  const expired = cluster.server.requests.filter((r) => r.verb === 'watch' && Number(r.query.resourceVersion) < cluster.server.store.oldestWatchableRv());
  assert.ok(expired.length >= 1, 'some watch resumed from a compacted resourceVersion');
});

test('a watch ended by a non-410 ERROR event counts as a failure: backoff, then resume without relisting', async () => {
  running = await startSource(cluster.server);
  await eventually('watches open', () => cluster.server.openWatches() === 3);
  cluster.server.failWatches(500, 'InternalError', 'watch cache is broken');
  // A failure counts until that watch is re-established (after a backoff of ~20 ms), so each
  // resource's failure is recorded when seen rather than required of all three at one instant.
  const failed = new Set<string>();
  await eventually('a failure per resource', () => {
    for (const r of running!.source.status().resources) if (r.failures >= 1) failed.add(r.resource);
    return failed.size === running!.source.status().resources.length;
  }, { intervalMs: 2, describe: () => [...failed] });
  assert.match(running.source.status().lastError ?? '', /500 InternalError watch cache is broken/);
  cluster.removePod('cache-node-0');
  await eventually('events after the resumed watch', same([INITIAL[1]!, INITIAL[2]!]), { timeoutMs: 5000, describe: current });
  await eventually('healthy again', () => running!.source.status().healthy);
  assert.equal(cluster.server.requests.filter((r) => r.verb === 'list').length, 3);
});

test('a burst (a rollout) is debounced into one change', async () => {
  running = await startSource(cluster.server, { holdOffMs: 300, maxDelayMs: 5000 });
  // A rolling restart: each pod in turn goes not ready, gets a new IP and comes back, 12 events.
  for (const [i, name] of ['cache-node-0', 'cache-node-1', 'cache-node-2'].entries()) {
    cluster.setConditions(name, { ready: false, serving: false });
    cluster.removePod(name);
    const node = ['gpu-a1', 'gpu-a2', 'gpu-b1'][i]!;
    cluster.addPod(name, { node, ip: `10.0.1.${10 + i}` });
  }
  const rolled = INITIAL.map((e, i) => ({ ...e, address: `10.0.1.${10 + i}` }));
  await eventually('the burst published', () => running!.changes.length >= 1);
  // A later, separate change: once it is published, everything of the burst has been too.
  cluster.node('gpu-b1', { region: 'r1', zone: 'z2', clique: 'fab-e', gpuMemoryMiB: '49152', gpuCount: '8' });
  await eventually('the sentinel change', () => running!.changes.length >= 2);
  assert.equal(running.changes.length, 2);
  assert.deepEqual(running.changes[0], rolled);
  assert.deepEqual(running.changes[1], [rolled[0], rolled[1], { ...rolled[2]!, locality: { region: 'r1', zone: 'z2', subzone: 'fab-e' } }]);
});

test('watch timeoutSeconds: the server ends watches and the informers resume without relisting', async () => {
  running = await startSource(cluster.server, {}, { minWatchTimeoutSeconds: 1 });
  const watches = (): number => cluster.server.requests.filter((r) => r.verb === 'watch').length;
  await eventually('each watch renewed once', () => watches() >= 6, { timeoutMs: 6000, describe: watches });
  assert.equal(cluster.server.requests.filter((r) => r.verb === 'list').length, 3);
  cluster.removePod('cache-node-2');
  await eventually('events after renewal', same([INITIAL[0]!, INITIAL[1]!]), { timeoutMs: 5000, describe: current });
  assert.equal(running.source.status().healthy, true);
});

test('start() rejects with SOURCE_UNAVAILABLE when a resource cannot be listed (RBAC missing)', async () => {
  cluster.server.forbid('nodes');
  await assert.rejects(startSource(cluster.server, {}, { initialSyncTimeoutMs: 600 }), (err: unknown) => {
    assert.ok(err instanceof KeywayError);
    assert.equal(err.code, 'SOURCE_UNAVAILABLE');
    assert.match(err.message, /nodes: HTTP 403/);
    assert.doesNotMatch(err.message, /pods:|endpointslices:/);
    return true;
  });
  await eventually('no watch left open', () => cluster.server.openWatches() === 0);
});
