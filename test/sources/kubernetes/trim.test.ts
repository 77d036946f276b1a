/**
 * What the informers keep of each object (src/sources/kubernetes/trim.ts): the endpoints and
 * problems computed from the trimmed objects are those computed from the whole ones, for every
 * setting that names a label or annotation.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { V1EndpointSlice, V1Node, V1Pod } from '@kubernetes/client-node';
import { parseKubernetesSourceConfig } from '../../../src/sources/kubernetes/config.js';
import { discoverEndpoints } from '../../../src/sources/kubernetes/endpoints.js';
import { nodeTrim, podTrim, sliceTrim } from '../../../src/sources/kubernetes/trim.js';
import { nodeObject, NS, podObject, SERVICE, sliceObject } from './fixtures.js';

const nodes = [
  nodeObject('n1', { region: 'r1', zone: 'z1', clique: 'fab-a', gpuMemoryMiB: '81920', gpuCount: '8', labels: { 'example.com/rack': 'r7' } }),
  nodeObject('n2', { region: 'r1', zone: 'z2', clique: 'fab-b', gpuMemoryMiB: 'lots' }),
  nodeObject('n3', {}),
].map((n) => ({ ...n, status: { images: [{ names: ['a@sha256:00'], sizeBytes: 1 }] }, metadata: { ...n.metadata, resourceVersion: '7', managedFields: [{ manager: 'kubelet' }] } }));

const pods = [
  podObject('p0', { node: 'n1', ip: '10.0.0.1', labels: { 'example.com/id': 'id-0', 'example.com/rack': 'pod-rack' }, annotations: { 'example.com/id': 'aid-0', 'keyway.io/weight': '3', 'example.com/w': '5' } }),
  podObject('p1', { node: 'n2', ip: '10.0.0.2', labels: { 'example.com/id': 'id-1' }, annotations: { 'keyway.io/weight': 'heavy', 'example.com/id': 'bad id!' } }),
  podObject('p2', { node: 'n3', ip: '10.0.0.3', deletionTimestamp: '2024-05-01T10:00:00Z', annotations: { 'example.com/w': 'x' } }),
  podObject('p3', { node: 'gone', ip: '10.0.0.4', uid: 'another-uid' }),
  podObject('p4', { node: 'n1', ip: '10.0.0.5', labels: { 'example.com/id': 'id-0' } }),
  // Values longer than any keyway takes (trim.ts keeps them clipped): a weight of 1000 digits, an
  // id of 1000 characters, and 100 zeros (a weight once, now past MAX_WEIGHT_TEXT_CHARS).
  podObject('p5', { node: 'n1', ip: '10.0.0.6', annotations: { 'keyway.io/weight': '9'.repeat(1000), 'example.com/id': 'i'.repeat(1000), 'example.com/w': '0'.repeat(100) } }),
];

const slices = [
  sliceObject(`${SERVICE}-a`, [
    { pod: 'p0', ip: '10.0.0.1', node: 'n1' },
    { pod: 'p1', ip: '10.0.0.2', node: 'n2', ready: false, serving: true, terminating: true },
    { pod: 'p2', ip: '10.0.0.3', node: 'n3', zone: 'z9' },
    { pod: 'p3', ip: '10.0.0.4', node: 'gone' },
    { pod: 'p4', ip: '10.0.0.5', node: 'n1' },
    { pod: 'p5', ip: '10.0.0.6', node: 'n1' },
  ]),
  sliceObject('other-b', [{ pod: 'p0', ip: '10.0.0.1', node: 'n1' }], { service: 'other' }),
];

const SETTINGS: Record<string, unknown>[] = [
  {},
  { identity: 'label:example.com/id' },
  { identity: 'annotation:example.com/id', terminating: 'while-serving' },
  { subzoneFrom: 'pod', subzoneLabel: 'example.com/rack' },
  { subzoneLabel: 'example.com/rack' },
  { weightAnnotation: 'example.com/w', weightFromGpuLabels: false },
];

test('endpoints and problems from trimmed objects are those from whole objects, for every setting', () => {
  for (const settings of SETTINGS) {
    const config = parseKubernetesSourceConfig(
      { value: { namespace: NS, services: [SERVICE, 'other'], ...settings }, locate: (p) => ({ field: p.join('.') }) },
      { env: {}, serviceAccountNamespace: () => undefined },
    );
    const whole = { slices: slices as unknown as V1EndpointSlice[], pods: pods as unknown as V1Pod[], nodes: nodes as unknown as V1Node[] };
    const trimmed = {
      slices: whole.slices.map(sliceTrim),
      pods: whole.pods.map(podTrim(config)),
      nodes: whole.nodes.map(nodeTrim(config)),
    };
    const expected = discoverEndpoints(whole, config);
    const kept = trimmed.pods.flatMap((p) => Object.values(p.metadata?.annotations ?? {}));
    assert.ok(kept.every((v) => v.length <= 230), `an annotation of ${Math.max(...kept.map((v) => v.length))} characters kept`);
    assert.ok(expected.endpoints.length >= 1 && expected.problems.length >= 2, 'the fixture exercises endpoints and problems');
    assert.deepEqual(discoverEndpoints(trimmed, config), expected, JSON.stringify(settings));
  }
});

test('a trimmed Node keeps its name, resourceVersion and the labels read; not its status or other labels', () => {
  const config = parseKubernetesSourceConfig({ value: { namespace: NS, services: [SERVICE] }, locate: (p) => ({ field: p.join('.') }) }, { env: {}, serviceAccountNamespace: () => undefined });
  const kept = nodeTrim(config)(nodes[0] as unknown as V1Node);
  assert.deepEqual(kept, {
    metadata: {
      name: 'n1',
      resourceVersion: '7',
      labels: {
        'topology.kubernetes.io/region': 'r1',
        'topology.kubernetes.io/zone': 'z1',
        'nvidia.com/gpu.memory': '81920',
        'nvidia.com/gpu.count': '8',
        'nvidia.com/gpu.clique': 'fab-a',
      },
    },
  });
  const pod = podTrim(config)(pods[2] as unknown as V1Pod);
  assert.deepEqual(pod, {
    metadata: { name: 'p2', namespace: NS, labels: {}, annotations: {}, uid: 'uid-p2', deletionTimestamp: '2024-05-01T10:00:00Z' },
    spec: { nodeName: 'n3', containers: [] },
    // Which slice entry is the pod's current one, when the slice names no uid.
    status: { podIPs: [{ ip: '10.0.0.3' }] },
  });
});

test('a trimmed EndpointSlice keeps of each endpoint what discovery reads: no hints, topology or hostname', () => {
  const [slice] = slices as unknown as V1EndpointSlice[];
  const bulky: V1EndpointSlice = {
    ...slice!,
    endpoints: slice!.endpoints.map((ep) => ({
      ...ep,
      hostname: 'h'.repeat(63),
      hints: { forZones: Array.from({ length: 50 }, (_, i) => ({ name: `zone-${i}` })) },
      deprecatedTopology: Object.fromEntries(Array.from({ length: 50 }, (_, i) => [`topology.example.com/k${i}`, 'v'.repeat(60)])),
      targetRef: { ...ep.targetRef, resourceVersion: '12345', fieldPath: 'spec.containers{cache}', apiVersion: 'v1' },
    })),
  };
  const kept = sliceTrim(bulky);
  for (const ep of kept.endpoints) {
    assert.deepEqual(Object.keys(ep).filter((k) => !['addresses', 'conditions', 'targetRef', 'nodeName', 'zone'].includes(k)), []);
    assert.deepEqual(Object.keys(ep.targetRef ?? {}).filter((k) => !['kind', 'name', 'namespace', 'uid'].includes(k)), []);
  }
  assert.ok(JSON.stringify(kept).length * 10 < JSON.stringify(bulky).length, `kept ${JSON.stringify(kept).length} of ${JSON.stringify(bulky).length} bytes`);
  const config = parseKubernetesSourceConfig({ value: { namespace: NS, services: [SERVICE] }, locate: (p) => ({ field: p.join('.') }) }, { env: {}, serviceAccountNamespace: () => undefined });
  const view = { nodes: nodes as unknown as V1Node[], pods: pods as unknown as V1Pod[] };
  assert.deepEqual(discoverEndpoints({ ...view, slices: [kept] }, config), discoverEndpoints({ ...view, slices: [bulky] }, config));
});
