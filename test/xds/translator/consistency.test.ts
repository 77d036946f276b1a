// checkConsistency: silent on what the translator produces, and names each broken reference,
// ordering fault or malformed assignment when a set is damaged on purpose.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { clone } from '@bufbuild/protobuf';
import type { ClusterLoadAssignment, RouteConfiguration } from '../../../src/xds/proto.js';
import type { ProxyClass, ResourceSet, TranslatedResource } from '../../../src/xds/resources.js';
import { checkConsistency, translate } from '../../../src/xds/translator/index.js';
import { computedInput, sixNodes } from './fixtures.js';

const input = computedInput(sixNodes(), { shardCount: 16, replicas: 2, spread: 'none' });
const flavors: ProxyClass[] = [
  { flavor: 'envoy', zone: '', subzone: '' },
  { flavor: 'grpc', zone: 'za', subzone: 'nvl-a1' },
];

function copy(r: TranslatedResource): TranslatedResource {
  return { name: r.name, schema: r.schema, message: clone(r.schema, r.message) };
}

test('translator output is consistent for both flavors and both missing-header policies', () => {
  for (const missingHeader of ['any', 'reject'] as const) {
    const inp = computedInput(sixNodes(), { shardCount: 16, replicas: 2, spread: 'none' }, { missingHeader });
    for (const proxy of flavors) assert.deepEqual(checkConsistency(translate(inp, proxy)), [], `${proxy.flavor} ${missingHeader}`);
  }
});

test('a cluster without its endpoints, and endpoints without a cluster', () => {
  for (const proxy of flavors) {
    const set = translate(input, proxy);
    const dropped = set.endpoint[0]!.name;
    const problems = checkConsistency({ ...set, endpoint: set.endpoint.slice(1) });
    assert.ok(problems.some((p) => p.includes(`cluster ${dropped}`) && p.includes('missing')), problems.join('\n'));

    const orphan = copy(set.endpoint[0]!);
    (orphan.message as ClusterLoadAssignment).clusterName = 'zzz-orphan';
    const p2 = checkConsistency({ ...set, endpoint: [...set.endpoint, { ...orphan, name: 'zzz-orphan' }] });
    assert.ok(p2.some((p) => p.includes('endpoints zzz-orphan: no EDS cluster')), p2.join('\n'));
  }
});

test('a listener without its route configuration, and a route to a missing cluster', () => {
  for (const proxy of flavors) {
    const set = translate(input, proxy);
    const p1 = checkConsistency({ ...set, route: [] });
    assert.ok(p1.some((p) => p.includes('listener keyway-cache: its route configuration keyway-cache is missing')), p1.join('\n'));

    const lastCluster = set.cluster.at(-1)!.name;
    const p2 = checkConsistency({ ...set, cluster: set.cluster.slice(0, -1), endpoint: set.endpoint.filter((e) => e.name !== lastCluster) });
    assert.ok(p2.some((p) => p.includes(`routes to cluster ${lastCluster}, which is missing`)), p2.join('\n'));

    const renamed = copy(set.route[0]!);
    (renamed.message as RouteConfiguration).name = 'other';
    const p3 = checkConsistency({ ...set, route: [{ ...renamed, name: 'other' }] });
    assert.ok(p3.some((p) => p.includes('route configuration other: no listener references it')), p3.join('\n'));
  }
});

test('ordering, duplicates, wrong types and names that disagree with the message', () => {
  const set = translate(input, flavors[1]!);
  assert.ok(set.cluster.length >= 3);
  const reversed: ResourceSet = { ...set, cluster: [...set.cluster].reverse() };
  assert.ok(checkConsistency(reversed).some((p) => p.includes('not sorted by name')));
  const twice: ResourceSet = { ...set, cluster: [set.cluster[0]!, ...set.cluster] };
  assert.ok(checkConsistency(twice).some((p) => p.includes('listed twice')));
  const wrongType: ResourceSet = { ...set, route: [{ ...set.listener[0]! }] };
  assert.ok(checkConsistency(wrongType).some((p) => p.includes('holds a envoy.config.listener.v3.Listener')));
  const misnamed: ResourceSet = { ...set, listener: [{ ...set.listener[0]!, name: 'x' }] };
  assert.ok(checkConsistency(misnamed).some((p) => p.includes('listener x: the message calls itself "keyway-cache"')));
});

test('an assignment with a priority gap or a repeated address', () => {
  const set = translate(input, flavors[1]!);
  const owners = set.endpoint.findIndex((e) => e.name.includes('/owners/'));
  const gap = copy(set.endpoint[owners]!);
  (gap.message as ClusterLoadAssignment).endpoints[1]!.priority = 2;
  const p1 = checkConsistency({ ...set, endpoint: set.endpoint.map((e, i) => (i === owners ? gap : e)) });
  assert.ok(p1.some((p) => p.includes('skip 1')), p1.join('\n'));

  const dup = copy(set.endpoint[owners]!);
  const cla = dup.message as ClusterLoadAssignment;
  cla.endpoints[1]!.lbEndpoints = [...cla.endpoints[0]!.lbEndpoints];
  const p2 = checkConsistency({ ...set, endpoint: set.endpoint.map((e, i) => (i === owners ? dup : e)) });
  assert.ok(p2.some((p) => p.includes('listed twice') && p.includes(':8080')), p2.join('\n'));
});

test('the route-table shape: a missing node cluster is named by the matcher routes to it', () => {
  const set = translate(computedInput(sixNodes(), { shardCount: 16, replicas: 2, spread: 'none' }, { routeShape: 'table' }), flavors[0]!);
  assert.deepEqual(checkConsistency(set), []);
  const node = set.cluster.find((c) => c.name.includes('/node/'))!.name;
  const withoutNode = checkConsistency({
    ...set,
    cluster: set.cluster.filter((c) => c.name !== node),
    endpoint: set.endpoint.filter((e) => e.name !== node),
  });
  assert.ok(withoutNode.some((p) => p.includes(`routes to cluster ${node}, which is missing`)), withoutNode.join('\n'));
});
