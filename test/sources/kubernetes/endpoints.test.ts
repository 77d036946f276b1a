/**
 * The pure core of the Kubernetes source: readiness from EndpointSlice conditions, weight from the
 * annotation or GPU labels, and EndpointSlices + Pods + Nodes → endpoints, with problems reported.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { V1EndpointSlice, V1Node, V1Pod } from '@kubernetes/client-node';
import { type KubernetesSourceConfig, parseKubernetesSourceConfig } from '../../../src/sources/kubernetes/config.js';
import { discoverEndpoints } from '../../../src/sources/kubernetes/endpoints.js';
import { endpointDraining, endpointReady } from '../../../src/sources/kubernetes/readiness.js';
import { endpointWeight, gpuMemoryGiB, parseWeight } from '../../../src/sources/kubernetes/weight.js';
import { MAX_PROBLEM_VALUE_CHARS } from '../../../src/sources/kubernetes/problem.js';
import { MAX_WEIGHT, MIN_POSITIVE_WEIGHT } from '../../../src/config/fields.js';
import type { StoredObject } from '../../support/kube-apiserver/index.js';
import { nodeObject, NS, podObject, SERVICE, sliceObject } from './fixtures.js';

function config(settings: Record<string, unknown> = {}): KubernetesSourceConfig {
  return parseKubernetesSourceConfig(
    { value: { namespace: NS, services: [SERVICE], ...settings }, locate: (p) => ({ field: p.join('.') }) },
    { env: {}, serviceAccountNamespace: () => undefined },
  );
}

const asPod = (o: StoredObject): V1Pod => o as unknown as V1Pod;
const asNode = (o: StoredObject): V1Node => o as unknown as V1Node;
const asSlice = (o: StoredObject): V1EndpointSlice => o as unknown as V1EndpointSlice;

function discover(objects: { slices: StoredObject[]; pods: StoredObject[]; nodes: StoredObject[] }, settings: Record<string, unknown> = {}) {
  return discoverEndpoints(
    { slices: objects.slices.map(asSlice), pods: objects.pods.map(asPod), nodes: objects.nodes.map(asNode) },
    config(settings),
  );
}

test('readiness from EndpointSlice conditions', () => {
  // [ready, serving, terminating, podTerminating] → [release, while-serving]
  const table: [boolean | undefined, boolean | undefined, boolean | undefined, boolean, boolean, boolean][] = [
    [true, true, false, false, true, true],
    [undefined, undefined, undefined, false, true, true], // unknown = ready (EndpointSlice API)
    [false, false, false, false, false, false],
    [false, true, false, false, false, false], // serving without ready and not terminating: not ready
    [false, true, true, false, false, true], // draining: release owns nothing, while-serving keeps it
    [false, false, true, false, false, false],
    [true, true, true, false, false, true], // publishNotReadyAddresses: ready even while terminating
    [true, false, false, false, false, false], // publishNotReadyAddresses: ready forced, serving says the pod is not Ready
    [true, undefined, false, false, true, true], // serving unknown: as ready
    [true, true, false, true, false, true], // pod deletionTimestamp seen before the slice says terminating
    [false, undefined, true, false, false, false], // serving unset: fall back to ready
    [undefined, undefined, undefined, true, false, true], // pod deleting, conditions unknown: serving unknown = serving
    [undefined, undefined, true, false, false, true], // terminating, serving and ready unknown: serving (as draining says)
  ];
  for (const [ready, serving, terminating, podTerminating, release, whileServing] of table) {
    const c = { ...(ready !== undefined ? { ready } : {}), ...(serving !== undefined ? { serving } : {}), ...(terminating !== undefined ? { terminating } : {}) };
    const row = JSON.stringify({ c, podTerminating });
    assert.equal(endpointReady(c, podTerminating, 'release'), release, `release ${row}`);
    assert.equal(endpointReady(c, podTerminating, 'while-serving'), whileServing, `while-serving ${row}`);
  }
  assert.equal(endpointReady(undefined, false, 'release'), true);
});

test('draining: terminating and still serving, so its shards are handed off before it goes (docs/ownership.md)', () => {
  // [ready, serving, terminating, podTerminating] → draining under `release`
  const table: [boolean | undefined, boolean | undefined, boolean | undefined, boolean, boolean][] = [
    [false, true, true, false, true], // the planned departure: terminating, serving
    [true, true, true, false, true], // ready while terminating (publishNotReadyAddresses): still released, so draining
    [true, true, false, true, true], // pod deletionTimestamp seen first
    [false, false, true, false, false], // terminating and no longer serving: it failed, moves at once
    [false, undefined, true, false, false], // serving unset, ready false: not serving
    [true, true, false, false, false], // not terminating: ready, not draining
    [false, false, false, false, false], // not ready, not terminating: a failure
  ];
  for (const [ready, serving, terminating, podTerminating, draining] of table) {
    const c = { ...(ready !== undefined ? { ready } : {}), ...(serving !== undefined ? { serving } : {}), ...(terminating !== undefined ? { terminating } : {}) };
    const isReady = endpointReady(c, podTerminating, 'release');
    assert.equal(endpointDraining(c, podTerminating, isReady), draining, JSON.stringify({ c, podTerminating }));
  }
  // Under while-serving a serving endpoint stays ready and keeps its shards: nothing to hand off.
  const c = { ready: false, serving: true, terminating: true };
  assert.equal(endpointDraining(c, false, endpointReady(c, false, 'while-serving')), false);
});

test('weight annotation values', () => {
  for (const [text, want] of [['2', 2], ['0', 0], ['1.5', 1.5], [' 40 ', 40], ['1e2', 100], ['.5', 0.5]] as const) {
    assert.equal(parseWeight(text), want, text);
  }
  for (const [text, want] of [['0.0', 0], ['0e5', 0], ['00', 0]] as const) assert.equal(parseWeight(text), want, text);
  // Below the smallest weight: reported, also when the double underflows to 0 (not silently "owns nothing").
  for (const text of ['-1', 'abc', '', 'NaN', 'Infinity', '1,5', '0x10', '1e400', '2GiB', '1e-300', '1e-400', `0.${'0'.repeat(400)}1`]) {
    assert.equal(parseWeight(text), undefined, text);
  }
});

test('weight: annotation, else GPU labels, else default; a malformed annotation is a problem on the pod', () => {
  const gpu = asNode(nodeObject('n', { gpuMemoryMiB: '81559', gpuCount: '8' }));
  const settings = { weightAnnotation: 'keyway.io/weight', weightFromGpuLabels: true, defaultWeight: 1 };
  const pod = (annotations?: Record<string, string>): V1Pod => asPod(podObject('p', { node: 'n', ip: '10.0.0.1', ...(annotations ? { annotations } : {}) }));
  assert.deepEqual(endpointWeight(pod({ 'keyway.io/weight': '7' }), gpu, settings), { weight: 7, problems: [] });
  assert.deepEqual(endpointWeight(pod(), gpu, settings), { weight: 637.18, problems: [] }); // 81559 MiB × 8 / 1024
  assert.deepEqual(endpointWeight(pod(), gpu, { ...settings, weightFromGpuLabels: false }), { weight: 1, problems: [] });
  assert.deepEqual(endpointWeight(pod(), undefined, settings), { weight: 1, problems: [] });

  const bad = endpointWeight(pod({ 'keyway.io/weight': 'heavy' }), gpu, settings);
  assert.equal(bad.weight, 637.18);
  assert.deepEqual(
    bad.problems.map((p) => [p.reason, p.kind, p.namespace, p.name, p.field, p.value]),
    [['bad-weight-annotation', 'Pod', NS, 'p', 'metadata.annotations["keyway.io/weight"]', 'heavy']],
  );
  assert.equal(endpointWeight(pod({ 'keyway.io/weight': '-3' }), undefined, settings).weight, 1);
});

test('weights from Kubernetes hold to the topology file\'s bounds: past MAX_WEIGHT the rendezvous score overflows', () => {
  assert.equal(parseWeight('1e290'), MAX_WEIGHT);
  assert.equal(parseWeight('1e-290'), MIN_POSITIVE_WEIGHT);
  for (const text of ['1.7e308', '2e290', '5e-324', '1e-300']) assert.equal(parseWeight(text), undefined, text);
  const settings = { weightAnnotation: 'keyway.io/weight', weightFromGpuLabels: true, defaultWeight: 1 };
  const huge = endpointWeight(asPod(podObject('p', { node: 'n', ip: '10.0.0.1', annotations: { 'keyway.io/weight': '1.7e308' } })), undefined, settings);
  assert.equal(huge.weight, 1);
  assert.equal(huge.problems[0]?.reason, 'bad-weight-annotation');
  assert.match(huge.problems[0]!.message, /keyway\.io\/weight="1\.7e308" is not a number from 0 to 1e\+290 .*; using the node GPU labels or defaultWeight instead/);
  // GPU labels whose product is past the bound (Infinity here) are a problem on the node, like malformed ones.
  const labels = gpuMemoryGiB(asNode(nodeObject('n', { gpuMemoryMiB: '9'.repeat(400), gpuCount: '8' })));
  assert.equal(labels.weight, undefined);
  assert.equal(labels.problem?.reason, 'bad-gpu-labels');
  assert.match(labels.problem!.message, /past the largest weight, 1e\+290 GiB; using defaultWeight/);
  // defaultWeight is a weight too.
  assert.throws(() => config({ defaultWeight: 1e300 }), /defaultWeight: must be at most 1e\+290/);
});

test('GPU labels: both absent is no problem; one absent or not a whole number is', () => {
  assert.deepEqual(gpuMemoryGiB(asNode(nodeObject('n', {}))), {});
  assert.deepEqual(gpuMemoryGiB(asNode(nodeObject('n', { gpuMemoryMiB: '40960', gpuCount: '2' }))), { weight: 80 });
  assert.deepEqual(gpuMemoryGiB(asNode(nodeObject('n', { gpuMemoryMiB: '40960', gpuCount: '0' }))), { weight: 0 });
  for (const spec of [{ gpuMemoryMiB: '40960' }, { gpuCount: '8' }, { gpuMemoryMiB: '40GB', gpuCount: '8' }, { gpuMemoryMiB: '40960', gpuCount: 'eight' }]) {
    const r = gpuMemoryGiB(asNode(nodeObject('n', spec)));
    assert.equal(r.weight, undefined, JSON.stringify(spec));
    assert.equal(r.problem?.reason, 'bad-gpu-labels', JSON.stringify(spec));
    assert.equal(r.problem?.kind, 'Node');
  }
});

test('endpoints from a slice: locality, weight, port by name; sorted by id; other services and namespaces ignored', () => {
  const nodes = [
    nodeObject('a', { region: 'eu', zone: 'eu-1', clique: 'f1', gpuMemoryMiB: '81920', gpuCount: '2' }),
    nodeObject('b', { region: 'eu', clique: 'f2' }), // no zone label: the slice's zone is used
  ];
  const pods = [podObject('p-b', { node: 'b', ip: '10.0.0.2', annotations: { 'keyway.io/weight': '3' } }), podObject('p-a', { node: 'a', ip: '10.0.0.1' })];
  const slices = [
    sliceObject('s1', [{ pod: 'p-b', ip: '10.0.0.2', node: 'b', zone: 'eu-2' }, { pod: 'p-a', ip: '10.0.0.1', node: 'a' }], {
      ports: [{ name: 'metrics', port: 9090 }, { name: 'cache', port: 8080 }],
    }),
    sliceObject('other', [{ pod: 'p-a', ip: '10.0.0.1', node: 'a' }], { service: 'other-svc', ports: [{ name: 'cache', port: 1 }] }),
    { ...sliceObject('elsewhere', [{ pod: 'p-a', ip: '10.0.0.1', node: 'a' }]), metadata: { ...sliceObject('x', []).metadata, name: 'elsewhere', namespace: 'other-ns' } },
  ];
  const r = discover({ slices, pods, nodes }, { portName: 'cache' });
  assert.deepEqual(r.endpoints, [
    { id: 'p-a', address: '10.0.0.1', port: 8080, locality: { region: 'eu', zone: 'eu-1', subzone: 'f1' }, weight: 160, ready: true },
    { id: 'p-b', address: '10.0.0.2', port: 8080, locality: { region: 'eu', zone: 'eu-2', subzone: 'f2' }, weight: 3, ready: true },
  ]);
  assert.deepEqual(r.problems, []);
  // Without portName the slice's first port is used.
  assert.deepEqual(discover({ slices, pods, nodes }).endpoints.map((e) => e.port), [9090, 9090]);
});

test('subzone from a pod label; identity from a label or annotation', () => {
  const nodes = [nodeObject('a', { clique: 'node-fabric' })];
  const pods = [
    podObject('p-0', { node: 'a', ip: '10.0.0.1', labels: { 'example.com/fabric': 'pod-fabric', 'keyway.io/id': 'shard-host-0' } }),
    podObject('p-1', { node: 'a', ip: '10.0.0.2', labels: { 'keyway.io/id': 'bad id!' } }),
    podObject('p-2', { node: 'a', ip: '10.0.0.3' }),
  ];
  const slices = [sliceObject('s', [0, 1, 2].map((i) => ({ pod: `p-${i}`, ip: `10.0.0.${i + 1}`, node: 'a' })))];
  const r = discover({ slices, pods, nodes }, { subzoneFrom: 'pod', subzoneLabel: 'example.com/fabric', identity: 'label:keyway.io/id' });
  assert.deepEqual(r.endpoints.map((e) => [e.id, e.locality.subzone]), [['shard-host-0', 'pod-fabric']]);
  assert.deepEqual(r.problems.map((p) => [p.reason, p.name, p.value]), [
    ['bad-identity', 'p-1', 'bad id!'],
    ['missing-identity', 'p-2', undefined],
  ]);
  const byAnnotation = discover(
    { slices, pods: [podObject('p-0', { node: 'a', ip: '10.0.0.1', annotations: { 'keyway.io/id': 'via-annotation' } })], nodes },
    { identity: 'annotation:keyway.io/id' },
  );
  assert.deepEqual(byAnnotation.endpoints.map((e) => e.id), ['via-annotation']);
});

test('one pod in several slices (dual-stack, two Services, controller rebalancing) is one endpoint', () => {
  const nodes = [nodeObject('a', {})];
  const pods = [podObject('p', { node: 'a', ip: '10.0.0.1' })];
  const v6 = sliceObject('s-v6', [{ pod: 'p', ip: 'fd00::1', node: 'a' }], { addressType: 'IPv6' });
  const v4 = sliceObject('s-v4', [{ pod: 'p', ip: '10.0.0.1', node: 'a' }]);
  assert.deepEqual(discover({ slices: [v6, v4], pods, nodes }).endpoints.map((e) => e.address), ['10.0.0.1']);
  // A stale not-ready copy in another slice loses to the ready one.
  const stale = sliceObject('s-old', [{ pod: 'p', ip: '10.0.0.1', node: 'a', ready: false }]);
  assert.deepEqual(discover({ slices: [stale, v4], pods, nodes }).endpoints.map((e) => e.ready), [true]);
  // Two Services: the one listed first wins.
  const second = sliceObject('s-second', [{ pod: 'p', ip: '10.0.0.1', node: 'a' }], { service: 'second', ports: [{ name: 'cache', port: 7000 }] });
  assert.deepEqual(discover({ slices: [second, v4], pods, nodes }, { services: [SERVICE, 'second'] }).endpoints.map((e) => e.port), [8080]);
  assert.deepEqual(discover({ slices: [second, v4], pods, nodes }, { services: ['second', SERVICE] }).endpoints.map((e) => e.port), [7000]);
});

test('two pods with one identity: the first by pod name is kept, the other reported', () => {
  const nodes = [nodeObject('a', {})];
  const pods = ['p-1', 'p-0'].map((n, i) => podObject(n, { node: 'a', ip: `10.0.0.${i + 1}`, labels: { id: 'same' } }));
  const slices = [sliceObject('s', [{ pod: 'p-1', ip: '10.0.0.1', node: 'a' }, { pod: 'p-0', ip: '10.0.0.2', node: 'a' }])];
  const r = discover({ slices, pods, nodes }, { identity: 'label:id' });
  assert.deepEqual(r.endpoints.map((e) => [e.id, e.address]), [['same', '10.0.0.2']]);
  assert.deepEqual(r.problems.map((p) => [p.reason, p.name, p.value]), [['duplicate-identity', 'p-1', 'same']]);
});

test('malformed objects are reported and left out, never thrown', () => {
  const nodes = [nodeObject('a', { zone: 'z' })];
  const pods = [podObject('p-0', { node: 'a', ip: '10.0.0.1' }), podObject('p-1', { node: 'gone', ip: '10.0.0.2' })];
  const noTarget = sliceObject('s-notarget', [{ pod: 'x', ip: '10.0.0.9', node: 'a' }]);
  (noTarget.endpoints as { targetRef?: unknown }[])[0]!.targetRef = undefined;
  const slices = [
    sliceObject('s-fqdn', [{ pod: 'p-0', ip: 'cache.example.com', node: 'a' }], { addressType: 'FQDN' }),
    sliceObject('s-noport', [{ pod: 'p-0', ip: '10.0.0.1', node: 'a' }], { ports: [{ name: 'http', port: 80 }] }),
    sliceObject('s-portless', [{ pod: 'p-0', ip: '10.0.0.1', node: 'a' }], { ports: [{ name: 'cache' }] }),
    sliceObject('s-ok', [
      { pod: 'p-0', ip: '10.0.0.1', node: 'a' },
      { pod: 'p-1', ip: '10.0.0.2', node: 'gone', zone: 'slice-zone' },
      { pod: 'p-unknown', ip: '10.0.0.3', node: 'a' },
    ]),
    noTarget,
  ];
  const r = discover({ slices, pods, nodes }, { portName: 'cache' });
  assert.deepEqual(r.endpoints, [
    { id: 'p-0', address: '10.0.0.1', port: 8080, locality: { region: '', zone: 'z', subzone: '' }, weight: 1, ready: true },
    { id: 'p-1', address: '10.0.0.2', port: 8080, locality: { region: '', zone: 'slice-zone', subzone: '' }, weight: 1, ready: true },
  ]);
  // Problems on a Service first, then sorted by kind, namespace, name, reason. The slices without
  // the port are one problem on their Service.
  assert.deepEqual(r.problems.map((p) => [p.reason, p.kind, p.name]), [
    ['no-port', 'Service', 'cache-node'],
    ['unsupported-address-type', 'EndpointSlice', 's-fqdn'],
    ['no-target-pod', 'EndpointSlice', 's-notarget'],
    ['node-not-found', 'Node', 'gone'],
    ['pod-not-found', 'Pod', 'p-unknown'],
  ]);
  assert.match(r.problems[0]!.message, /2 of the 4 slices of Service cache-node have no usable port: no port named cache \(1 slice: s-noport\); port cache has no number \(1 slice: s-portless\); their 2 endpoints are left out$/);
});

test('only IP literals of the slice family become endpoints: a host name or the other family is reported, left out', () => {
  const nodes = [nodeObject('a', { zone: 'z' })];
  const pods = ['p-0', 'p-1', 'p-2', 'p-3'].map((name, i) => podObject(name, { node: 'a', ip: `10.0.0.${i + 1}` }));
  const slices = [
    sliceObject('s-v4', [
      { pod: 'p-0', ip: '10.0.0.1', node: 'a' },
      { pod: 'p-1', ip: 'cache-1.example', node: 'a' },
      { pod: 'p-2', ip: 'fd00::2', node: 'a' },
    ]),
    sliceObject('s-v6', [{ pod: 'p-3', ip: '10.0.0.4', node: 'a' }], { addressType: 'IPv6' }),
  ];
  const r = discover({ slices, pods, nodes });
  assert.deepEqual(r.endpoints.map((e) => [e.id, e.address]), [['p-0', '10.0.0.1']]);
  assert.deepEqual(r.problems.map((p) => [p.reason, p.kind, p.name, p.value]), [
    ['bad-address', 'EndpointSlice', 's-v4', 'cache-1.example'],
    ['bad-address', 'EndpointSlice', 's-v4', 'fd00::2'],
    ['bad-address', 'EndpointSlice', 's-v6', '10.0.0.4'],
  ]);
});

test('an identity many pods share: each problem names the kept pod and a count, not every pod (no quadratic growth)', () => {
  const nodes = [nodeObject('a', {})];
  const n = 2_000;
  const names = Array.from({ length: n }, (_, i) => `cache-node-${String(i).padStart(4, '0')}`);
  const pods = names.map((name, i) => podObject(name, { node: 'a', ip: `10.0.${i >> 8}.${i & 255}` }));
  const slices = [sliceObject('s', names.map((pod, i) => ({ pod, ip: `10.0.${i >> 8}.${i & 255}`, node: 'a' })))];
  // `app` is on every pod (a careless identity setting).
  const r = discover({ slices, pods, nodes }, { identity: 'label:app' });
  assert.deepEqual(r.endpoints.map((e) => e.address), ['10.0.0.0']);
  assert.equal(r.problems.length, n - 1);
  const longest = Math.max(...r.problems.map((p) => p.message.length));
  assert.ok(longest < 300, `a problem message of ${longest} characters`);
  assert.equal(r.problems[0]!.message, `pods ${NS}/${names[0]}, ${NS}/${names[1]} and ${n - 2} more have identity ${SERVICE}; only ${NS}/${names[0]} is used`);
  const two = discover({ slices, pods: pods.slice(0, 2), nodes }, { identity: 'label:app' }).problems.filter((p) => p.reason === 'duplicate-identity');
  assert.equal(two[0]!.message, `pods ${NS}/${names[0]} and ${NS}/${names[1]} both have identity ${SERVICE}; only ${NS}/${names[0]} is used`);
});

test('a problem quotes at most MAX_PROBLEM_VALUE_CHARS of an object value (an annotation may hold 256 KiB)', () => {
  const nodes = [nodeObject('a', {})];
  const huge = 'x'.repeat(200_000);
  const pods = [
    podObject('p-0', { node: 'a', ip: '10.0.0.1', annotations: { 'keyway.io/weight': huge } }),
    podObject('p-1', { node: 'a', ip: '10.0.0.2', annotations: { id: huge } }),
  ];
  const slices = [sliceObject('s', [{ pod: 'p-0', ip: '10.0.0.1', node: 'a' }, { pod: 'p-1', ip: '10.0.0.2', node: 'a' }])];
  const weight = discover({ slices, pods: pods.slice(0, 1), nodes }).problems.filter((p) => p.reason === 'bad-weight-annotation');
  const identity = discover({ slices, pods, nodes }, { identity: 'annotation:id' }).problems.filter((p) => p.reason === 'bad-identity');
  for (const p of [...weight, ...identity]) {
    assert.ok(JSON.stringify(p).length < 1_000, `${p.reason}: ${JSON.stringify(p).length} characters`);
    assert.equal(p.value, `${'x'.repeat(MAX_PROBLEM_VALUE_CHARS)}... (200000 characters)`);
  }
  assert.deepEqual([...weight, ...identity].map((p) => p.reason), ['bad-weight-annotation', 'bad-identity']);
});

test('a pod recreated under the same name on another node: the slice entry of the old pod (its uid) is left out', () => {
  // cache-0 was on node a (10.0.0.1); a new cache-0 (another uid) is scheduled to node b and not
  // ready yet, while the slice still lists the old one as ready, without nodeName (it is optional).
  const nodes = [nodeObject('a', { zone: 'za', gpuMemoryMiB: '81920', gpuCount: '8' }), nodeObject('b', { zone: 'zb', gpuMemoryMiB: '40960', gpuCount: '1' })];
  const pods = [podObject('cache-0', { node: 'b', ip: '10.0.1.7', uid: 'uid-cache-0-new' })];
  const slice = sliceObject('s', [{ pod: 'cache-0', ip: '10.0.0.1', node: 'a' }]);
  delete (slice.endpoints as { nodeName?: string }[])[0]!.nodeName;
  const stale = discover({ slices: [slice], pods, nodes });
  assert.deepEqual(stale.endpoints, [], 'the old address must not be published with the new pod\'s node');
  assert.deepEqual(stale.problems.map((p) => [p.reason, p.name]), [['pod-not-found', 'cache-0']]);
  assert.match(stale.problems[0]!.message, /uid uid-cache-0, .*replaced .*uid uid-cache-0-new/);

  // Once the controller lists the new pod (not ready yet) next to the old entry, the new one is used.
  const both = sliceObject('s', [{ pod: 'cache-0', ip: '10.0.0.1', node: 'a' }, { pod: 'cache-0', ip: '10.0.1.7', node: 'b', ready: false }]);
  (both.endpoints as { targetRef: { uid: string } }[])[1]!.targetRef.uid = 'uid-cache-0-new';
  const r = discover({ slices: [both], pods, nodes });
  assert.deepEqual(r.endpoints, [{ id: 'cache-0', address: '10.0.1.7', port: 8080, locality: { region: '', zone: 'zb', subzone: '' }, weight: 40, ready: false }]);
});
