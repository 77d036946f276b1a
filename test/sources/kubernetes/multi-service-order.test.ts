/**
 * Several Services at once (docs/kubernetes-discovery.md "How one endpoint is built"): a pod in
 * two Services, a slice moved to another Service, stale slices of a Service deleted and re-created,
 * one address in two slices, ports that differ, IPv4 and IPv6 slices, pods not seen yet. Whatever
 * order the informers' caches hold the objects in (the order their events came in), the source
 * must give one answer, endpoints and problems alike: every replica sees the same cluster through
 * its own event order, and /readyz and /v1/shardmap show the problems.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { V1Endpoint, V1EndpointSlice, V1Node, V1Pod } from '@kubernetes/client-node';
import { parseKubernetesSourceConfig, type KubernetesSourceConfig } from '../../../src/sources/kubernetes/config.js';
import { discoverEndpoints } from '../../../src/sources/kubernetes/endpoints.js';
import { fuzzBudget, Rng } from '../../support/seeded-random.js';

const NS = 'cache';
const SERVICES = ['cache-a', 'cache-b', 'cache-c', 'other'];

function config(value: Record<string, unknown>): KubernetesSourceConfig {
  return parseKubernetesSourceConfig({ value: { namespace: NS, ...value }, locate: (p) => ({ field: p.join('.') }) }, { env: {}, serviceAccountNamespace: () => undefined });
}

const CONFIGS = [
  config({ services: ['cache-a', 'cache-b', 'cache-c'] }),
  config({ services: ['cache-b', 'cache-a'], portName: 'cache', identity: 'label:cache-id' }),
];

function shuffled<T>(rng: Rng, items: readonly T[]): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

/** A small random cluster where pods are listed by several slices of several Services. */
function cluster(rng: Rng): { slices: V1EndpointSlice[]; pods: V1Pod[]; nodes: V1Node[] } {
  const podCount = 1 + rng.int(6);
  const nodeCount = 1 + rng.int(3);
  const nodes: V1Node[] = [];
  for (let n = 0; n < nodeCount; n++) {
    nodes.push({ metadata: { name: `gpu-${n}`, labels: { 'topology.kubernetes.io/zone': `z${rng.int(2)}`, ...(rng.next() < 0.3 ? { 'nvidia.com/gpu.count': 'eight' } : {}) } } });
  }
  const pods: V1Pod[] = [];
  for (let p = 0; p < podCount; p++) {
    pods.push({
      metadata: {
        name: `cache-node-${p}`,
        namespace: NS,
        uid: `uid-${p}`,
        labels: { 'cache-id': `id-${rng.int(4)}` },
        ...(rng.next() < 0.3 ? { annotations: { 'keyway.io/weight': rng.next() < 0.5 ? 'lots' : '3' } } : {}),
        ...(rng.next() < 0.2 ? { deletionTimestamp: new Date(0) } : {}),
      },
      // gpu-<nodeCount> is a node keyway does not know.
      spec: { nodeName: `gpu-${rng.int(nodeCount + 1)}`, containers: [] },
    });
  }
  const slices: V1EndpointSlice[] = [];
  for (let s = 0, count = 1 + rng.int(5); s < count; s++) {
    const ipv6 = rng.next() < 0.3;
    const endpoints: V1Endpoint[] = [];
    for (let k = 0, n = rng.int(5); k < n; k++) {
      // cache-node-<podCount> is a pod keyway has not seen; addresses repeat across pods and slices.
      const p = rng.int(podCount + 1);
      endpoints.push({
        addresses: [ipv6 ? `fd00::${rng.int(3)}` : `10.0.0.${rng.int(3)}`],
        conditions: { ready: rng.next() < 0.6, serving: rng.next() < 0.7, terminating: rng.next() < 0.2 },
        ...(rng.next() < 0.7 ? { nodeName: `gpu-${rng.int(nodeCount + 1)}` } : {}),
        targetRef: { kind: 'Pod', namespace: NS, name: `cache-node-${p}`, uid: rng.next() < 0.9 ? `uid-${p}` : 'uid-replaced' },
      });
    }
    slices.push({
      metadata: { name: `slice-${s}`, namespace: NS, labels: { 'kubernetes.io/service-name': SERVICES[rng.int(SERVICES.length)]! } },
      addressType: ipv6 ? 'IPv6' : 'IPv4',
      endpoints,
      ports: shuffled(rng, [
        { name: 'cache', port: 8000 + rng.int(3) },
        { name: 'metrics', port: 9000 + rng.int(3) },
      ]),
    });
  }
  return { slices, pods, nodes };
}

const asJson = (value: unknown): string => JSON.stringify(value, (_k, v: unknown) => (v instanceof Set ? [...(v as Set<string>)].sort() : v));

test('the endpoints and problems of several Services do not depend on the order the caches hold the objects in', () => {
  const { iterations, seed } = fuzzBudget(1500);
  for (let i = 0; i < iterations; i++) {
    const rng = new Rng(seed * 1_000_003 + i);
    const view = cluster(rng);
    for (const [c, cfg] of CONFIGS.entries()) {
      const expected = asJson(discoverEndpoints(view, cfg));
      for (let order = 0; order < 4; order++) {
        const got = asJson(discoverEndpoints({ slices: shuffled(rng, view.slices), pods: shuffled(rng, view.pods), nodes: shuffled(rng, view.nodes) }, cfg));
        assert.equal(got, expected, `case ${i} (seed ${seed}), config ${c}, order ${order}: ${asJson(view)}`);
      }
    }
  }
});

test('a pod listed by slices of two Services that it is not found for is reported the same whatever the slice order', () => {
  const cfg = CONFIGS[0]!;
  const slice = (name: string, service: string): V1EndpointSlice => ({
    metadata: { name, namespace: NS, labels: { 'kubernetes.io/service-name': service } },
    addressType: 'IPv4',
    endpoints: [{ addresses: ['10.0.0.1'], conditions: { ready: true }, targetRef: { kind: 'Pod', namespace: NS, name: 'cache-node-0', uid: 'uid-0' } }],
    ports: [{ name: 'cache', port: 8080 }],
  });
  const a = slice('cache-a-x1', 'cache-a');
  const b = slice('cache-b-y2', 'cache-b');
  const one = discoverEndpoints({ slices: [a, b], pods: [], nodes: [] }, cfg).problems;
  const other = discoverEndpoints({ slices: [b, a], pods: [], nodes: [] }, cfg).problems;
  assert.equal(one.length, 1);
  assert.deepEqual(other, one);
});
