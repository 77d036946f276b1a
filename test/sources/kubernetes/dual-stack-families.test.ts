/**
 * Dual-stack Services (docs/kubernetes-discovery.md "How one endpoint is built"): the EndpointSlice
 * controller keeps one slice per address family for the same pods and writes them one after the
 * other, in no fixed order (it walks the Service's families as a Go set). Between the two writes
 * the families disagree on a pod's conditions. The endpoint must keep its IPv4 address through
 * that, and its readiness must follow one family: taking whichever family said ready switched
 * the endpoint to its IPv6 address for the gap (a new host for every proxy, and in Envoy's subset
 * shape an IPv6 endpoint has no standby alias), and kept a pod that failed its probe ready until
 * the second write.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { V1EndpointSlice, V1Node, V1Pod } from '@kubernetes/client-node';
import { discoverEndpoints } from '../../../src/sources/kubernetes/endpoints.js';
import { eventually } from '../../support/eventually.js';
import { nodeObject, podObject, sliceObject, type SliceEndpoint } from './fixtures.js';
import { startSource, testConfig, twoPodsEachTest } from './harness.js';

const cluster = twoPodsEachTest();

const v4 = (i: number, extra: Partial<SliceEndpoint> = {}): SliceEndpoint => ({ pod: `cache-node-${i}`, ip: `10.0.0.${10 + i}`, node: 'gpu-1', ...extra });
const v6 = (i: number, extra: Partial<SliceEndpoint> = {}): SliceEndpoint => ({ pod: `cache-node-${i}`, ip: `fd00::${10 + i}`, node: 'gpu-1', ...extra });
const writeV4 = (eps: SliceEndpoint[]): void => void cluster.server!.upsert(sliceObject('cache-node-ipv4', eps, { addressType: 'IPv4' }));
const writeV6 = (eps: SliceEndpoint[]): void => void cluster.server!.upsert(sliceObject('cache-node-ipv6', eps, { addressType: 'IPv6' }));
const pod1 = (): string => {
  const e = cluster.running!.source.current().find((x) => x.id === 'cache-node-1');
  return e === undefined ? '(absent)' : `${e.address}${e.ready ? '' : ' (not ready)'}`;
};
/** What each publication said of cache-node-1, in order. */
const pod1History = (): string[] =>
  cluster.running!.changes.map((list) => {
    const e = list.find((x) => x.id === 'cache-node-1');
    return e === undefined ? '(absent)' : `${e.address}${e.ready ? '' : ' (not ready)'}`;
  });
/** Long enough for a write to reach the source and its 30 ms hold-off to pass: a publication in between the two family writes. */
const settle = (): Promise<void> => new Promise((r) => setTimeout(r, 250));

test('a pod failing its probe, the IPv4 slice written first: not ready at once, on its IPv4 address, and no further change at the IPv6 write', async () => {
  writeV4([v4(0), v4(1)]);
  writeV6([v6(0), v6(1)]);
  cluster.running = await startSource(cluster.server!);
  assert.equal(pod1(), '10.0.0.11');
  writeV4([v4(0), v4(1, { ready: false, serving: false })]);
  await eventually('the IPv4 write seen', () => cluster.running!.changes.length >= 1, { describe: pod1History });
  await settle();
  assert.equal(pod1(), '10.0.0.11 (not ready)', 'between the writes: not ready, still at its IPv4 address');
  writeV6([v6(0), v6(1, { ready: false, serving: false })]);
  await settle();
  assert.deepEqual(pod1History(), ['10.0.0.11 (not ready)'], 'one publication: the IPv6 write changes nothing');
});

test('a pod turning ready, the IPv6 slice written first: it waits for its IPv4 entry, no detour through its IPv6 address', async () => {
  writeV4([v4(0), v4(1, { ready: false, serving: false })]);
  writeV6([v6(0), v6(1, { ready: false, serving: false })]);
  cluster.running = await startSource(cluster.server!);
  assert.equal(pod1(), '10.0.0.11 (not ready)');
  writeV6([v6(0), v6(1)]);
  await settle();
  writeV4([v4(0), v4(1)]);
  await eventually('ready once the IPv4 slice says so', () => pod1() === '10.0.0.11', { describe: pod1History });
  await settle();
  assert.deepEqual(pod1History(), ['10.0.0.11'], 'one publication, at the IPv4 address');
});

test('a pod only one family lists is still an endpoint, at that family (a single-stack IPv6 Service, or a pod the IPv4 slice has not listed yet)', () => {
  const slice = (name: string, eps: SliceEndpoint[], addressType: 'IPv4' | 'IPv6'): V1EndpointSlice => sliceObject(name, eps, { addressType }) as unknown as V1EndpointSlice;
  const pods = [0, 1].map((i) => podObject(`cache-node-${i}`, { node: 'gpu-1', ip: `10.0.0.${10 + i}` }) as unknown as V1Pod);
  const nodes = [nodeObject('gpu-1', { region: 'r', zone: 'z' }) as unknown as V1Node];
  const shown = (slices: V1EndpointSlice[]): string[] =>
    discoverEndpoints({ slices, pods, nodes }, testConfig()).endpoints.map((e) => `${e.id}@${e.address}${e.ready ? '' : ' (not ready)'}`);
  assert.deepEqual(shown([slice('a', [v4(0)], 'IPv4'), slice('b', [v6(0, { ready: false }), v6(1)], 'IPv6')]), ['cache-node-0@10.0.0.10', 'cache-node-1@fd00::11']);
  // Within one family a stale copy in another slice (the controller moving the pod between slices)
  // still loses to the ready one.
  assert.deepEqual(shown([slice('a', [v4(1, { ready: false })], 'IPv4'), slice('c', [v4(1)], 'IPv4'), slice('b', [v6(1)], 'IPv6')]), ['cache-node-1@10.0.0.11']);
});

test('a pod behind two Services, written one after the other: its port stays the first Service\'s, its readiness follows that Service', async () => {
  const writeFirst = (eps: SliceEndpoint[]): void => void cluster.server!.upsert(sliceObject('cache-node-a', eps));
  const writeSecond = (eps: SliceEndpoint[]): void => void cluster.server!.upsert(sliceObject('cache-alt-a', eps, { service: 'cache-alt', ports: [{ name: 'cache', port: 7000 }] }));
  const withPort = (): string[] =>
    cluster.running!.changes.map((list) => {
      const e = list.find((x) => x.id === 'cache-node-1');
      return e === undefined ? '(absent)' : `${e.address}:${e.port}${e.ready ? '' : ' (not ready)'}`;
    });
  writeFirst([v4(0), v4(1, { ready: false, serving: false })]);
  writeSecond([v4(0), v4(1, { ready: false, serving: false })]);
  cluster.running = await startSource(cluster.server!, { services: ['cache-node', 'cache-alt'] });
  // Turning ready, the second Service's slice written first (each Service is synced on its own).
  writeSecond([v4(0), v4(1)]);
  await settle();
  writeFirst([v4(0), v4(1)]);
  await eventually('ready once the first Service says so', () => withPort().at(-1) === '10.0.0.11:8080', { describe: withPort });
  // Failing its probe, the first Service's slice written first.
  writeFirst([v4(0), v4(1, { ready: false, serving: false })]);
  await settle();
  writeSecond([v4(0), v4(1, { ready: false, serving: false })]);
  await settle();
  assert.deepEqual(withPort(), ['10.0.0.11:8080', '10.0.0.11:8080 (not ready)'], 'never on the second Service\'s port');
});
