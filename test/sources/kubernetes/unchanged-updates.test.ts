/**
 * Updates that change nothing the source keeps (a Node's status heartbeat, a pod's status) are
 * not changes: in a large cluster they come several a second, and each re-armed the debounce's
 * hold-off, so a real change waited for maxDelayMs and every stream of them cost a recompute.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { KubernetesObject } from '@kubernetes/client-node';
import { setTimeout as sleep } from 'node:timers/promises';
import { KubeApiServer } from '../../support/kube-apiserver/index.js';
import { eventually } from '../../support/eventually.js';
import { sameButVersion } from '../../../src/sources/kubernetes/informer.js';
import { type RunningSource, startSource, stopAfterEach } from './harness.js';
import { StormCluster } from './storm-cluster.js';
import { NS } from './fixtures.js';

const started = stopAfterEach();

/** Debug lines of the recomputes since the source synced (the first is the sync's). */
function recomputeLines(r: RunningSource): Record<string, unknown>[] {
  return r.logs.filter((l) => l.msg === 'Kubernetes endpoints recomputed').slice(1);
}

test('node and pod status updates, each spread past maxDelayMs, cost no recompute; a real change still does', async () => {
  const server = (started.server = await KubeApiServer.start());
  const cluster = new StormCluster(server, 200, 50);
  const running = (started.running = await startSource(server, { holdOffMs: 30, maxDelayMs: 100 }));
  const r = running;
  // 60 rounds 5 ms apart: each round well inside the hold-off, the whole stream three maxDelayMs long.
  for (let i = 0; i < 60; i++) {
    cluster.nodeHeartbeat(cluster.nodes[i % cluster.nodes.length]!);
    cluster.heartbeat(cluster.pods[i % cluster.pods.length]!);
    await sleep(5);
  }
  // A real change last: once it is published, every update before it has reached the source.
  cluster.beginDelete(cluster.pods[7]!);
  await eventually('the real change published', () => r.source.current()[r.source.current().findIndex((e) => e.id === 'cache-node-7')]?.ready === false);
  const lines = recomputeLines(r);
  assert.equal(lines.length, 1, `recomputes: ${JSON.stringify(lines.map((l) => l.events))}`);
  // The pod's deletion mark and its slice entry: the 120 status updates are not counted.
  assert.equal(lines[0]!.events, 2);
  assert.equal(r.changes.length, 1);
});

test('an update that changes a kept field is still a change: a node relabelled, a weight annotation', async () => {
  const server = (started.server = await KubeApiServer.start());
  const cluster = new StormCluster(server, 20, 5);
  const running = (started.running = await startSource(server, { holdOffMs: 10, maxDelayMs: 50 }));
  const r = running;
  const node = server.get('Node', undefined, 'gpu-0')!;
  server.upsert({ ...node, metadata: { ...node.metadata, labels: { ...node.metadata.labels, 'nvidia.com/gpu.clique': 'fab-moved' } } });
  await eventually('the relabel published', () => r.source.current().find((e) => e.id === 'cache-node-0')?.locality.subzone === 'fab-moved');
  const pod = server.get('Pod', 'cache', 'cache-node-1')!;
  server.upsert({ ...pod, metadata: { ...pod.metadata, annotations: { 'keyway.io/weight': '3' } } });
  await eventually('the weight published', () => r.source.current().find((e) => e.id === 'cache-node-1')?.weight === 3);
  assert.equal(cluster.pods.length, 20);
});

test('pods of other workloads and nodes of other pools coming and going cost no recompute; a named pod or node that appears does', async () => {
  const server = (started.server = await KubeApiServer.start());
  const cluster = new StormCluster(server, 50, 10);
  const running = (started.running = await startSource(server, { holdOffMs: 30, maxDelayMs: 100 }));
  const r = running;
  // 60 rounds 5 ms apart: a batch job's pod created, scheduled and deleted; a CPU node joins and leaves.
  for (let i = 0; i < 60; i++) {
    const job = { ...cluster.podObject(cluster.pods[0]!), metadata: { name: `job-${i}`, namespace: NS, uid: `uid-job-${i}`, labels: { app: 'batch' } } };
    server.upsert({ ...job, spec: {} });
    server.upsert(job);
    if (i >= 2) server.remove('Pod', NS, `job-${i - 2}`);
    server.upsert({ ...cluster.nodeObject(`cpu-${i}`), metadata: { name: `cpu-${i}` } });
    if (i >= 2) server.remove('Node', undefined, `cpu-${i - 2}`);
    await sleep(5);
  }
  cluster.beginDelete(cluster.pods[7]!);
  await eventually('the real change published', () => r.source.current().find((e) => e.id === 'cache-node-7')?.ready === false);
  const lines = recomputeLines(r);
  assert.equal(lines.length, 1, `recomputes: ${JSON.stringify(lines.map((l) => l.events))}`);
  assert.equal(lines[0]!.events, 2);

  // A pod its slice names but keyway has not seen, and a node a pod runs on but keyway does not know: each counts once it appears.
  const pod = cluster.pods[9]!;
  server.remove('Pod', NS, pod.name);
  await eventually('the pod left out', () => !r.source.current().some((e) => e.id === pod.name));
  server.upsert(cluster.podObject(pod));
  await eventually('the pod back', () => r.source.current().some((e) => e.id === pod.name));
  server.remove('Node', undefined, 'gpu-1');
  await eventually('locality lost with the node', () => r.source.current().find((e) => e.id === 'cache-node-1')?.locality.subzone === '');
  server.upsert(cluster.nodeObject('gpu-1'));
  await eventually('locality back with the node', () => r.source.current().find((e) => e.id === 'cache-node-1')?.locality.subzone === 'fab-0');
});

test('sameButVersion: only the resourceVersion is ignored; an absent member equals an undefined one; a Date is not its text', () => {
  const same = (a: object, b: object): boolean => sameButVersion(a as KubernetesObject, b as KubernetesObject);
  const a = { metadata: { name: 'p', resourceVersion: '1', labels: { a: '1' } }, spec: { nodeName: 'n' } };
  assert.equal(same(a, { metadata: { name: 'p', resourceVersion: '2', labels: { a: '1' } }, spec: { nodeName: 'n' } }), true);
  assert.equal(same(a, { metadata: { name: 'p', resourceVersion: '2', labels: { a: '2' } }, spec: { nodeName: 'n' } }), false);
  assert.equal(same(a, { metadata: { name: 'p', resourceVersion: '2', labels: { a: '1' } } }), false);
  assert.equal(same(a, { metadata: { name: 'p', resourceVersion: '2', labels: { a: '1' }, annotations: undefined }, spec: { nodeName: 'n' } }), true);
  const at = '2026-12-07T00:00:00Z';
  assert.equal(same({ metadata: { name: 'p', deletionTimestamp: new Date(at) } }, { metadata: { name: 'p', deletionTimestamp: at } }), false);
  assert.equal(same({ metadata: { name: 'p', deletionTimestamp: new Date(at) } }, { metadata: { name: 'p', deletionTimestamp: new Date(at) } }), true);
  const slice = (ready: boolean): object => ({ metadata: { name: 's' }, endpoints: [{ addresses: ['10.0.0.1'], conditions: { ready } }] });
  assert.equal(same(slice(true), slice(true)), true);
  assert.equal(same(slice(true), slice(false)), false);
  assert.equal(same({ metadata: { name: 's' }, endpoints: [] }, { metadata: { name: 's' }, endpoints: {} }), false);
});
