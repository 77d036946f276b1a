/**
 * Slice entries without `targetRef.uid` (docs/kubernetes-discovery.md "How one endpoint is built"):
 * hand-written Endpoints mirrored into slices, or a controller that omits the uid. A pod recreated
 * under its name (a StatefulSet pod: same name, new IP) then cannot be told from the old one by uid,
 * and the slice may still list the old pod's entry, ready, beside the new pod's.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { V1EndpointSlice, V1Node, V1Pod } from '@kubernetes/client-node';
import { discoverEndpoints } from '../../../src/sources/kubernetes/endpoints.js';
import { podTrim } from '../../../src/sources/kubernetes/trim.js';
import type { StoredObject } from '../../support/kube-apiserver/index.js';
import { eventually } from '../../support/eventually.js';
import { NS, nodeObject, podObject, sliceObject, type SliceEndpoint } from './fixtures.js';
import { startSource, testConfig, twoPodsEachTest } from './harness.js';

const cluster = twoPodsEachTest();

/** The slice as a controller that writes no uid (or the mirroring of hand-written Endpoints) has it. */
function sliceWithoutUids(name: string, members: readonly SliceEndpoint[]): StoredObject {
  const s = sliceObject(name, members);
  for (const e of s.endpoints as { targetRef: { uid?: string } }[]) delete e.targetRef.uid;
  return s;
}

/** cache-node-0's entry as the gone pod left it, and another pod's beside it. */
const old: SliceEndpoint = { pod: 'cache-node-0', ip: '10.0.0.10', node: 'gpu-1' };
const other: SliceEndpoint = { pod: 'cache-node-1', ip: '10.0.0.11', node: 'gpu-1' };

const pod0 = (): string[] => cluster.running!.source.current().filter((e) => e.id === 'cache-node-0').map((e) => `${e.address} ${e.ready ? 'ready' : 'not ready'}`);

test('a pod recreated with a new IP while the slice, without uids, still lists its old entry ready: the entry at the pod\'s current IP is used', async () => {
  cluster.server!.upsert(sliceWithoutUids('cache-node-a', [old, other]));
  cluster.running = await startSource(cluster.server!);
  assert.deepEqual(pod0(), ['10.0.0.10 ready']);

  // The pod is deleted and recreated under its name with another uid and IP, not ready yet; the
  // slice lists the new entry (not ready) and has not dropped the old one (ready, as last written).
  cluster.server!.remove('Pod', NS, 'cache-node-0');
  await eventually('the deleted pod left out', () => pod0().length === 0, { describe: pod0 });
  const sinceDeletion = cluster.running!.changes.length;
  cluster.server!.upsert(sliceWithoutUids('cache-node-a', [old, { ...old, ip: '10.0.0.20', ready: false }, other]));
  cluster.server!.upsert(podObject('cache-node-0', { node: 'gpu-1', ip: '10.0.0.20', uid: 'uid-cache-node-0-new' }));
  await eventually('the recreated pod listed', () => pod0().length === 1, { describe: pod0 });
  // The old pod and its address are gone: publishing 10.0.0.10 ready would send its shards to no one.
  assert.deepEqual(pod0(), ['10.0.0.20 not ready']);

  // The new pod turns ready; the stale entry stays until its writer drops it, and does not come back.
  cluster.server!.upsert(sliceWithoutUids('cache-node-a', [old, { ...old, ip: '10.0.0.20' }, other]));
  await eventually('the new entry ready', () => pod0().join() === '10.0.0.20 ready', { describe: pod0 });
  const published = cluster.running!.changes.slice(sinceDeletion).map((eps) => eps.filter((e) => e.id === 'cache-node-0').map((e) => `${e.address} ${e.ready}`).join());
  assert.deepEqual(published, ['10.0.0.20 false', '10.0.0.20 true'], 'the old address is never published again');
});

test('which entry is current is decided by the pod\'s IPs, in either order and in any slice; the pod\'s IPs are kept by the pod trim', () => {
  const nodes = [nodeObject('gpu-1') as unknown as V1Node];
  const trim = podTrim(testConfig());
  const pod = trim(podObject('cache-node-0', { node: 'gpu-1', ip: '10.0.0.20', uid: 'uid-new' }) as unknown as V1Pod);
  assert.deepEqual(pod.status?.podIPs, [{ ip: '10.0.0.20' }], 'the trimmed pod keeps its IPs');
  const stale: SliceEndpoint = { pod: 'cache-node-0', ip: '10.0.0.10', node: 'gpu-1' };
  const current: SliceEndpoint = { pod: 'cache-node-0', ip: '10.0.0.20', node: 'gpu-1', ready: false };
  const layouts: StoredObject[][] = [
    [sliceWithoutUids('s-a', [stale, current])],
    [sliceWithoutUids('s-a', [current, stale])],
    [sliceWithoutUids('s-a', [stale]), sliceWithoutUids('s-b', [current])],
    [sliceWithoutUids('s-a', [current]), sliceWithoutUids('s-b', [stale])],
  ];
  for (const slices of layouts) {
    const r = discoverEndpoints({ slices: slices as unknown as V1EndpointSlice[], pods: [pod], nodes }, testConfig());
    assert.deepEqual(r.endpoints.map((e) => `${e.address} ${e.ready}`), ['10.0.0.20 false'], JSON.stringify(slices.map((s) => s.metadata)));
  }
  // IPv6 addresses compare in any spelling.
  const pod6 = trim({ ...podObject('cache-node-0', { node: 'gpu-1', ip: 'fd00::20', uid: 'uid-new' }), status: { podIPs: [{ ip: 'fd00::20' }] } } as unknown as V1Pod);
  const slice6 = sliceObject('s-6', [{ ...stale, ip: 'fd00::10' }, { ...current, ip: 'FD00:0:0::20' }], { addressType: 'IPv6' });
  for (const e of slice6.endpoints as { targetRef: { uid?: string } }[]) delete e.targetRef.uid;
  const r6 = discoverEndpoints({ slices: [slice6] as unknown as V1EndpointSlice[], pods: [pod6], nodes }, testConfig());
  assert.deepEqual(r6.endpoints.map((e) => `${e.address} ${e.ready}`), ['FD00:0:0::20 false']);
  // An address that is not the pod's IP (hand-written Endpoints naming a second network's address)
  // is still used when it is the only entry, or when no entry is at the pod's IP: nothing says it is stale.
  const secondNetwork: SliceEndpoint = { pod: 'cache-node-0', ip: '192.168.5.20', node: 'gpu-1' };
  const alone = discoverEndpoints({ slices: [sliceWithoutUids('s-a', [secondNetwork])] as unknown as V1EndpointSlice[], pods: [pod], nodes }, testConfig());
  assert.deepEqual(alone.endpoints.map((e) => `${e.address} ${e.ready}`), ['192.168.5.20 true']);
  // A pod that has not started (no IP yet, or phase Pending) serves at no address: an entry without
  // uid at an address it does not have is an earlier pod's, left out and reported. The trim keeps the phase.
  const noIp = trim({ ...podObject('cache-node-0', { node: 'gpu-1', ip: '', uid: 'uid-new' }), status: { phase: 'Pending' } } as unknown as V1Pod);
  assert.deepEqual(noIp.status, { phase: 'Pending' }, 'the trimmed pod keeps a Pending phase');
  const pending = discoverEndpoints({ slices: [sliceWithoutUids('s-a', [stale])] as unknown as V1EndpointSlice[], pods: [noIp], nodes }, testConfig());
  assert.deepEqual(pending.endpoints, []);
  assert.deepEqual(pending.problems.map((p) => [p.reason, p.kind, p.name]), [['pod-not-found', 'Pod', 'cache-node-0']]);
  const noIpUnknownPhase = trim({ ...podObject('cache-node-0', { node: 'gpu-1', ip: '', uid: 'uid-new' }), status: {} } as unknown as V1Pod);
  const unknownPhase = discoverEndpoints({ slices: [sliceWithoutUids('s-a', [stale])] as unknown as V1EndpointSlice[], pods: [noIpUnknownPhase], nodes }, testConfig());
  assert.match(unknownPhase.problems[0]?.message ?? '', /has not started \(no IP yet\)/);
  const pendingWithIp = trim({ ...podObject('cache-node-0', { node: 'gpu-1', ip: '', uid: 'uid-new' }), status: { phase: 'Pending', podIPs: [{ ip: '10.0.0.20' }] } } as unknown as V1Pod);
  const pulling = discoverEndpoints({ slices: [sliceWithoutUids('s-a', [stale, current])] as unknown as V1EndpointSlice[], pods: [pendingWithIp], nodes }, testConfig());
  assert.deepEqual(pulling.endpoints.map((e) => `${e.address} ${e.ready}`), ['10.0.0.20 false'], 'its entry at its own IP is used');
  assert.deepEqual(pulling.problems.map((p) => p.message), [
    'EndpointSlice s-a lists pod cache-node-0 at 10.0.0.10 without a uid, but pod cache-node-0 has not started (phase Pending, IP 10.0.0.20): the entry is an earlier pod\'s of that name; it is left out',
  ]);
  // An entry whose uid is the pod's is the pod's, started or not; a running pod keeps no phase.
  const withUid = discoverEndpoints({ slices: [sliceObject('s-a', [stale])] as unknown as V1EndpointSlice[], pods: [trim({ ...podObject('cache-node-0', { node: 'gpu-1', ip: '' }), status: { phase: 'Pending' } } as unknown as V1Pod)], nodes }, testConfig());
  assert.deepEqual(withUid.endpoints.map((e) => `${e.address} ${e.ready}`), ['10.0.0.10 true']);
  assert.deepEqual(pod.status, { podIPs: [{ ip: '10.0.0.20' }] });
});

const problemsOf = (pod: string): string[] =>
  cluster.running!.source.status().problems.filter((p) => p.name === pod).map((p) => `${p.reason}: ${p.message}`);

/**
 * Hand-written Endpoints mirrored into a slice list cache-node-0 at 10.0.0.10 ready, without uids;
 * the pod is deleted (the writer keeps its entry) and recreated under its name, scheduled, not
 * started (the API server's Pending, no IP). Returns the new pod and the count of changes before.
 */
async function recreatedPending(): Promise<{ recreated: ReturnType<typeof podObject>; sinceDeletion: number }> {
  cluster.server!.upsert(sliceWithoutUids('cache-node-a', [old, other]));
  cluster.running = await startSource(cluster.server!);
  assert.deepEqual(pod0(), ['10.0.0.10 ready']);
  cluster.server!.remove('Pod', NS, 'cache-node-0');
  await eventually('the deleted pod left out', () => pod0().length === 0, { describe: pod0 });
  const sinceDeletion = cluster.running!.changes.length;
  const recreated = podObject('cache-node-0', { node: 'gpu-1', ip: '', uid: 'uid-cache-node-0-new' });
  cluster.server!.upsert({ ...recreated, status: { phase: 'Pending' } });
  // The new pod is seen (the "not seen" problem goes); its old entry is reported, not published.
  await eventually('the recreated pod seen', () => problemsOf('cache-node-0').some((p) => /no IP yet/.test(p)), { describe: () => [...problemsOf('cache-node-0'), ...pod0()] });
  return { recreated, sinceDeletion };
}

test('a pod recreated under its name that has not started (Pending, no IP yet) while the slice, without uids, still lists the old entry ready: the old address is not published', async () => {
  const { recreated, sinceDeletion } = await recreatedPending();
  assert.deepEqual(pod0(), [], 'nothing listens at 10.0.0.10: the pod that did is gone');
  assert.deepEqual(problemsOf('cache-node-0'), [
    'pod-not-found: EndpointSlice cache-node-a lists pod cache-node-0 at 10.0.0.10 without a uid, but pod cache-node-0 has not started (phase Pending, no IP yet): the entry is an earlier pod\'s of that name; it is left out',
  ]);

  // The pod gets its IP while its images are pulled (still Pending): the old entry is still not its.
  cluster.server!.upsert({ ...recreated, status: { phase: 'Pending', podIP: '10.0.0.20', podIPs: [{ ip: '10.0.0.20' }] } });
  await eventually('the IP seen', () => problemsOf('cache-node-0').some((p) => /IP 10\.0\.0\.20/.test(p)), { describe: () => problemsOf('cache-node-0') });
  assert.deepEqual(pod0(), []);

  // The writer lists it at its IP (ready, as hand-written Endpoints say): not ready while the pod
  // has not started; the problem resolves. The writer first: a pod that runs beside the old entry
  // alone would have it used (docs), and two writes are not sure to land in one recompute.
  cluster.server!.upsert(sliceWithoutUids('cache-node-a', [{ ...old, ip: '10.0.0.20' }, other]));
  await eventually('the new entry listed', () => pod0().join() === '10.0.0.20 not ready', { describe: pod0 });
  // It runs: the pod is published ready there.
  cluster.server!.upsert(podObject('cache-node-0', { node: 'gpu-1', ip: '10.0.0.20', uid: 'uid-cache-node-0-new' }));
  await eventually('the new entry ready', () => pod0().join() === '10.0.0.20 ready', { describe: pod0 });
  await eventually('the problem resolved', () => problemsOf('cache-node-0').length === 0, { describe: () => problemsOf('cache-node-0') });
  const published = cluster.running!.changes.slice(sinceDeletion).map((eps) => eps.filter((e) => e.id === 'cache-node-0').map((e) => `${e.address} ${e.ready}`).join());
  assert.deepEqual(published, ['10.0.0.20 false', '10.0.0.20 true'], 'the old address is never published again');
});

test('a hostNetwork pod recreated on its node has the gone pod\'s IP: before it starts, an entry without uid at that IP is published not ready, whatever it says', () => {
  const nodes = [nodeObject('gpu-1') as unknown as V1Node];
  const trim = podTrim(testConfig());
  // The gone pod's entry, ready as last written, at the node's IP, which the new pod gets too.
  const gone: SliceEndpoint = { pod: 'cache-node-0', ip: '10.0.0.10', node: 'gpu-1' };
  const at = (status: Record<string, unknown>, extra: Record<string, unknown> = {}): string[] => {
    const pod = trim({ ...podObject('cache-node-0', { node: 'gpu-1', ip: '', uid: 'uid-new' }), ...extra, status } as unknown as V1Pod);
    const r = discoverEndpoints({ slices: [sliceWithoutUids('s-a', [gone])] as unknown as V1EndpointSlice[], pods: [pod], nodes }, testConfig());
    return r.endpoints.map((e) => `${e.address} ${e.ready}${e.draining ? ' draining' : ''}`);
  };
  const nodeIp = { podIP: '10.0.0.10', podIPs: [{ ip: '10.0.0.10' }] };
  assert.deepEqual(at({ phase: 'Pending' }), [], 'no IP yet: left out');
  assert.deepEqual(at({ phase: 'Pending', ...nodeIp }), ['10.0.0.10 false'], 'its IP known, its image still pulling: nothing listens yet');
  assert.deepEqual(at({ phase: 'Running', ...nodeIp }), ['10.0.0.10 true'], 'started: the entry is used as written');
  // Deleted before it started: no planned departure, there is nothing to warm from.
  const deleted = { metadata: { ...podObject('cache-node-0', { node: 'gpu-1', ip: '', uid: 'uid-new' }).metadata, deletionTimestamp: '2026-01-01T00:00:00Z' } };
  assert.deepEqual(at({ phase: 'Pending', ...nodeIp }, deleted), ['10.0.0.10 false']);
  assert.deepEqual(at({ phase: 'Running', ...nodeIp }, deleted), ['10.0.0.10 false draining'], 'a started pod deleted while serving drains');
});

test('a hostNetwork pod recreated on its node while the slice, without uids, lists the gone pod ready at the node\'s IP: not published ready until the pod runs', async () => {
  const { recreated, sinceDeletion } = await recreatedPending();
  // The kubelet gives it the node's IP, the gone pod's, and pulls its image: the entry is at the pod's IP now.
  cluster.server!.upsert({ ...recreated, status: { phase: 'Pending', podIP: '10.0.0.10', podIPs: [{ ip: '10.0.0.10' }] } });
  await eventually('the entry at the pod\'s IP listed', () => pod0().length === 1, { describe: pod0 });
  assert.deepEqual(pod0(), ['10.0.0.10 not ready'], 'nothing listens at 10.0.0.10 until the pod runs');
  assert.deepEqual(problemsOf('cache-node-0'), []);

  cluster.server!.upsert(podObject('cache-node-0', { node: 'gpu-1', ip: '10.0.0.10', uid: 'uid-cache-node-0-new' }));
  await eventually('the pod runs', () => pod0().join() === '10.0.0.10 ready', { describe: pod0 });
  const published = cluster.running!.changes.slice(sinceDeletion).map((eps) => eps.filter((e) => e.id === 'cache-node-0').map((e) => `${e.address} ${e.ready}`).join());
  assert.deepEqual(published, ['10.0.0.10 false', '10.0.0.10 true']);
});
