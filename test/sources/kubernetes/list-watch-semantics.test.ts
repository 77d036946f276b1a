/**
 * The list/watch semantics the source relies on, against the in-process API server with the real
 * informers: bookmarks keep a watch's resume point fresh, selector and namespace scoping, and the
 * shapes the EndpointSlice controller produces (several slices per Service, an endpoint moving
 * between them, dual-stack families).
 */
import assert from 'node:assert/strict';
import { afterEach, beforeEach, test } from 'node:test';
import { KubeApiServer } from '../../support/kube-apiserver/index.js';
import { eventually } from '../../support/eventually.js';
import { NS, nodeObject, podObject, SERVICE, sliceObject, type SliceEndpoint } from './fixtures.js';
import { type RunningSource, startSource } from './harness.js';

let server: KubeApiServer;
let running: RunningSource | undefined;

beforeEach(async () => {
  server = await KubeApiServer.start();
  server.upsert(nodeObject('gpu-1', { region: 'r', zone: 'z' }));
  for (const [i, name] of ['cache-node-0', 'cache-node-1', 'cache-node-2'].entries()) server.upsert(podObject(name, { node: 'gpu-1', ip: `10.0.0.${10 + i}` }));
});

afterEach(async () => {
  await running?.source.stop();
  running = undefined;
  await server.close();
});

const member = (i: number, extra: Partial<SliceEndpoint> = {}): SliceEndpoint => ({ pod: `cache-node-${i}`, ip: `10.0.0.${10 + i}`, node: 'gpu-1', ...extra });
const ids = (): string[] => running!.source.current().map((e) => `${e.id}@${e.address}${e.ready ? '' : ' (not ready)'}`);
const lists = (): number => server.requests.filter((r) => r.verb === 'list').length;

test('bookmarks: a watch renewed after the history was compacted resumes from its bookmark, without a relist', async () => {
  server.upsert(sliceObject('cache-node-a', [member(0), member(1)]));
  running = await startSource(server, {}, { minWatchTimeoutSeconds: 1 });
  await eventually('watches open', () => server.openWatches() === 3);
  assert.ok(server.requests.filter((r) => r.verb === 'watch').every((r) => r.query.allowWatchBookmarks === 'true'));
  // Changes elsewhere in the cluster move the global resourceVersion on; only a bookmark tells the
  // slice, pod and node watches that they are that far.
  for (let i = 0; i < 5; i++) server.upsert(nodeObject(`other-${i}`));
  await eventually('node events seen', () => server.openWatches() === 3);
  server.sendBookmarks();
  await new Promise((r) => setTimeout(r, 50));
  server.compact();
  const watchesBefore = server.requests.filter((r) => r.verb === 'watch').length;
  // Each watch ends at its timeoutSeconds (1-2 s) and is renewed from its last resourceVersion.
  await eventually('every watch renewed', () => server.requests.filter((r) => r.verb === 'watch').length >= watchesBefore + 3, { timeoutMs: 6000 });
  assert.equal(lists(), 3, 'no relist: the renewed watches resumed from the bookmark, inside the history');
  server.upsert(sliceObject('cache-node-a', [member(0)]));
  await eventually('changes after the renewal', () => ids().join() === 'cache-node-0@10.0.0.10', { describe: ids });
});

test('several slices per Service; an endpoint moving between them, in either order of writes', async () => {
  server.upsert(sliceObject('cache-node-a', [member(0), member(1)]));
  server.upsert(sliceObject('cache-node-b', [member(2)]));
  running = await startSource(server);
  assert.deepEqual(ids(), ['cache-node-0@10.0.0.10', 'cache-node-1@10.0.0.11', 'cache-node-2@10.0.0.12']);
  // Added to b before it leaves a: one endpoint all along.
  server.upsert(sliceObject('cache-node-b', [member(2), member(1)]));
  server.upsert(sliceObject('cache-node-a', [member(0)]));
  // A stale copy in another slice that says not ready does not hide the ready one.
  server.upsert(sliceObject('cache-node-c', [member(0, { ready: false, serving: false })]));
  // Let every write reach the source and its debounce (30 ms) pass.
  await new Promise((r) => setTimeout(r, 200));
  assert.deepEqual(ids(), ['cache-node-0@10.0.0.10', 'cache-node-1@10.0.0.11', 'cache-node-2@10.0.0.12']);
  // A slice deleted: its endpoints go unless listed elsewhere.
  server.remove('EndpointSlice', NS, 'cache-node-a');
  await eventually('slice a gone', () => ids().join() === 'cache-node-0@10.0.0.10 (not ready),cache-node-1@10.0.0.11,cache-node-2@10.0.0.12', { describe: ids });
  server.remove('EndpointSlice', NS, 'cache-node-c');
  await eventually('slice c gone', () => ids().join() === 'cache-node-1@10.0.0.11,cache-node-2@10.0.0.12', { describe: ids });
});

test('dual-stack: one endpoint per pod, IPv4 preferred, IPv6 when only that family lists it; FQDN reported', async () => {
  server.upsert(sliceObject('cache-node-v4', [member(0), member(1)], { addressType: 'IPv4' }));
  server.upsert(sliceObject('cache-node-v6', [member(0, { ip: 'fd00::10' }), member(1, { ip: 'fd00::11' })], { addressType: 'IPv6' }));
  server.upsert(sliceObject('cache-node-fqdn', [member(2, { ip: 'cache-node-2.example' })], { addressType: 'FQDN' }));
  running = await startSource(server);
  assert.deepEqual(ids(), ['cache-node-0@10.0.0.10', 'cache-node-1@10.0.0.11']);
  assert.deepEqual(running.source.status().problems.map((p) => `${p.reason} ${p.name}`), ['unsupported-address-type cache-node-fqdn']);
  server.upsert(sliceObject('cache-node-v4', [member(0)], { addressType: 'IPv4' }));
  await eventually('pod 1 through IPv6', () => ids().join() === 'cache-node-0@10.0.0.10,cache-node-1@fd00::11', { describe: ids });
});

test('scope: only slices of the configured Services (label selector) in the configured namespace', async () => {
  server.upsert(sliceObject('cache-node-a', [member(0)]));
  server.upsert(sliceObject('warm-a', [member(1)], { service: 'warm' }));
  server.upsert(sliceObject('other-a', [member(2)], { service: 'other' }));
  server.upsert({ ...sliceObject('cache-node-x', [member(2)]), metadata: { ...sliceObject('cache-node-x', []).metadata, namespace: 'elsewhere' } });
  running = await startSource(server, { services: [SERVICE, 'warm'] });
  assert.deepEqual(ids(), ['cache-node-0@10.0.0.10', 'cache-node-1@10.0.0.11']);
  const sliceRequests = server.requests.filter((r) => r.resource === 'endpointslices');
  assert.ok(sliceRequests.every((r) => r.namespace === NS && r.query.labelSelector === `kubernetes.io/service-name in (${SERVICE},warm)`));
  // A slice relabelled out of the selector leaves (the watch sees it as DELETED).
  server.upsert(sliceObject('warm-a', [member(1)], { service: 'retired' }));
  await eventually('relabelled slice gone', () => ids().join() === 'cache-node-0@10.0.0.10', { describe: ids });
});

test('a Service with publishNotReadyAddresses: a pod failing its readiness probe (ready forced, not serving) owns nothing', async () => {
  // What the EndpointSlice controller writes for such a Service: ready: true always, serving: the pod's Ready condition.
  server.upsert(sliceObject('cache-node-a', [member(0), member(1, { ready: true, serving: false })]));
  running = await startSource(server);
  assert.deepEqual(ids(), ['cache-node-0@10.0.0.10', 'cache-node-1@10.0.0.11 (not ready)']);
  server.upsert(sliceObject('cache-node-a', [member(0), member(1, { ready: true, serving: true })]));
  await eventually('ready once it serves', () => ids().join() === 'cache-node-0@10.0.0.10,cache-node-1@10.0.0.11', { describe: ids });
});
