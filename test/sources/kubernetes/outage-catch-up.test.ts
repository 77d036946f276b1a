/**
 * After an outage the three informers come back on their own backoff timers, drawn apart (up to
 * 15 s at the 30 s step). Meanwhile a map built from slices that caught up and pods that did not
 * (or the reverse) leaves out every pod recreated during the outage (its uid changed), moving its
 * shards away and back. So once one informer reaches the API server again the others retry at
 * once, and no change is published until each has answered.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { KubeApiServer, type StoredObject } from '../../support/kube-apiserver/index.js';
import { eventually } from '../../support/eventually.js';
import { NS, nodeObject, podObject, sliceObject, type SliceEndpoint } from './fixtures.js';
import { startSource } from './harness.js';

/** The slice as the controller writes it, with the targetRef uid of each pod as it is now. */
function slice(members: readonly (SliceEndpoint & { uid: string })[]): StoredObject {
  const s = sliceObject('cache-node-abcde', members);
  const endpoints = (s.endpoints as { targetRef: { uid: string } }[]).map((e, i) => ({ ...e, targetRef: { ...e.targetRef, uid: members[i]!.uid } }));
  return { ...s, endpoints };
}

test('a pod recreated during an outage is never left out while the informers catch up', async (t) => {
  const server = await KubeApiServer.start();
  t.after(() => server.close());
  server.upsert(nodeObject('gpu-1', { region: 'r', zone: 'z' }));
  const members = [0, 1, 2].map((i) => ({ pod: `cache-node-${i}`, ip: `10.0.0.${10 + i}`, node: 'gpu-1', uid: `uid-cache-node-${i}` }));
  for (const m of members) server.upsert(podObject(m.pod, { node: m.node, ip: m.ip, uid: m.uid }));
  server.upsert(slice(members));
  // A short debounce, so a map built while only some informers have caught up would be published.
  const running = await startSource(server, { holdOffMs: 5, maxDelayMs: 20 }, { backoff: { initialMs: 100, maxMs: 4000 } });
  t.after(() => running.source.stop());
  await eventually('watches open', () => server.openWatches() === 3);

  await server.goDown('refuse');
  // The StatefulSet controller recreates cache-node-0 meanwhile: new uid, new address.
  server.remove('Pod', NS, 'cache-node-0');
  members[0] = { ...members[0]!, ip: '10.0.1.10', uid: 'uid-cache-node-0-b' };
  server.upsert(podObject('cache-node-0', { node: 'gpu-1', ip: '10.0.1.10', uid: 'uid-cache-node-0-b' }));
  server.upsert(slice(members));
  // Enough failures that each informer's next retry is drawn from a wide range (800..1600 ms or more).
  await eventually('several failures each', () => running.source.status().resources.every((r) => r.failures >= 5), { timeoutMs: 10_000 });
  await server.comeUp();

  await eventually('the recreated pod', () => running.source.current().some((e) => e.address === '10.0.1.10'), { timeoutMs: 10_000 });
  await eventually('healthy again', () => running.source.status().healthy, { timeoutMs: 10_000 });
  const published = running.changes.map((eps) => eps.map((e) => `${e.id}@${e.address}`).join(','));
  assert.deepEqual(published, ['cache-node-0@10.0.1.10,cache-node-1@10.0.0.11,cache-node-2@10.0.0.12'], 'one change, with every pod');
});
