/**
 * Pod and node events are ignored when no EndpointSlice named the object at the last recompute,
 * and watched updates that change nothing kept are not changes. These are the orders in which a
 * change could slip past both filters: what the endpoints depend on must still be published.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { KubeApiServer } from '../../support/kube-apiserver/index.js';
import { eventually } from '../../support/eventually.js';
import { startSource, stopAfterEach } from './harness.js';
import { nodeObject, NS, podObject, sliceObject } from './fixtures.js';

const started = stopAfterEach();

const SLICE = 'cache-node-abc';

/** The slice without endpoints[].nodeName: the node is known only from the pod's spec.nodeName. */
function sliceWithoutNodeNames(pods: readonly { pod: string; ip: string }[]): ReturnType<typeof sliceObject> {
  const s = sliceObject(SLICE, pods.map((p) => ({ ...p, node: 'unused' })));
  const endpoints = (s.endpoints as Record<string, unknown>[]).map(({ nodeName: _n, ...e }) => e);
  return { ...s, endpoints };
}

test('a slice that names a pod before it exists, without nodeName: the pod, then its node, then a relabel of the node all count', async () => {
  const server = (started.server = await KubeApiServer.start());
  server.upsert(sliceWithoutNodeNames([{ pod: 'p1', ip: '10.0.0.1' }]));
  const running = (started.running = await startSource(server));
  const r = running;
  assert.deepEqual(r.source.current(), []);
  server.upsert(podObject('p1', { node: 'gpu-9', ip: '10.0.0.1' }));
  await eventually('the pod published', () => r.source.current().length === 1);
  assert.equal(r.source.current()[0]!.locality.zone, '');
  server.upsert(nodeObject('gpu-9', { region: 'r1', zone: 'z9', clique: 'f9' }));
  await eventually('the node read', () => r.source.current()[0]?.locality.zone === 'z9');
  server.upsert(nodeObject('gpu-9', { region: 'r1', zone: 'z10', clique: 'f9' }));
  await eventually('the relabel read', () => r.source.current()[0]?.locality.zone === 'z10');
});

test('a pod changed while no slice named it: the slice that comes to name it publishes the pod as it is now', async () => {
  const server = (started.server = await KubeApiServer.start());
  server.upsert(nodeObject('gpu-1', { region: 'r1', zone: 'z1' }));
  server.upsert(podObject('p1', { node: 'gpu-1', ip: '10.0.0.1' }));
  server.upsert(podObject('p2', { node: 'gpu-1', ip: '10.0.0.2' }));
  server.upsert(sliceObject(SLICE, [{ pod: 'p1', ip: '10.0.0.1', node: 'gpu-1' }]));
  const running = (started.running = await startSource(server));
  const r = running;
  assert.equal(r.source.current().length, 1);
  // p2 is not named: its new weight is cached but schedules nothing.
  server.upsert(podObject('p2', { node: 'gpu-1', ip: '10.0.0.2', annotations: { 'keyway.io/weight': '5' } }));
  await sleep(100);
  assert.equal(r.source.current().find((e) => e.id === 'p2'), undefined);
  server.upsert(sliceObject(SLICE, [{ pod: 'p1', ip: '10.0.0.1', node: 'gpu-1' }, { pod: 'p2', ip: '10.0.0.2', node: 'gpu-1' }]));
  await eventually('p2 published with its new weight', () => r.source.current().find((e) => e.id === 'p2')?.weight === 5);
});

test('changes missed while every watch was expired are published by the relist; a pod recreated under its name is a change', async () => {
  const server = (started.server = await KubeApiServer.start());
  server.upsert(nodeObject('gpu-1', { region: 'r1', zone: 'z1' }));
  server.upsert(podObject('p1', { node: 'gpu-1', ip: '10.0.0.1' }));
  server.upsert(sliceObject(SLICE, [{ pod: 'p1', ip: '10.0.0.1', node: 'gpu-1' }]));
  const running = (started.running = await startSource(server));
  const r = running;
  await eventually('watches open', () => server!.openWatches() === 3);
  await server.goDown();
  server.upsert(podObject('p1', { node: 'gpu-1', ip: '10.0.0.1', annotations: { 'keyway.io/weight': '4' } }));
  server.upsert(nodeObject('gpu-1', { region: 'r1', zone: 'z2' }));
  server.compact();
  await server.comeUp();
  await eventually('the missed changes published', () => r.source.current()[0]?.weight === 4 && r.source.current()[0]?.locality.zone === 'z2', { timeoutMs: 8000 });
  // The pod deleted and recreated under its name with the same fields but a new uid is a change.
  server.remove('Pod', NS, 'p1');
  server.upsert(podObject('p1', { node: 'gpu-1', ip: '10.0.0.1', uid: 'uid-other', annotations: { 'keyway.io/weight': '4' } }));
  await eventually('the recreated pod is not the one the slice lists', () => r.source.current().length === 0);
});
