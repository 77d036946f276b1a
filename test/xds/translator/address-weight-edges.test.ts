// Edges of what proxies accept in a ClusterLoadAssignment: one host per socket however its address
// is spelled, and summed weights within uint32 at the largest topology.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { create, toBinary } from '@bufbuild/protobuf';
import { ClusterLoadAssignmentSchema, type ClusterLoadAssignment } from '../../../src/xds/proto.js';
import { MAX_ENDPOINTS } from '../../../src/core/limits.js';
import { TYPE_URL, type ProxyClass } from '../../../src/xds/resources.js';
import { checkConsistency, translateWithWarnings } from '../../../src/xds/translator/index.js';
import { socketAddress } from '../../../src/xds/translator/envoy-core.js';
import { endpoint, handInput, locality } from './fixtures.js';

const ENVOY: ProxyClass = { flavor: 'envoy', zone: '', subzone: '' };
const GRPC: ProxyClass = { flavor: 'grpc', zone: '', subzone: '' };
const PICKER: ProxyClass = { flavor: 'grpc', zone: '', subzone: '', picker: true };
const UINT32_MAX = 0xffff_ffff;

// grpc-js-xds's own EDS validator (as in grpc.test.ts): what a real client runs on each assignment.
const require = createRequire(import.meta.url);
const grpcEds = require('@grpc/grpc-js-xds/build/src/xds-resource-type/endpoint-resource-type.js').EndpointResourceType.get() as {
  decode(ctx: unknown, r: { type_url: string; value: Buffer }): { error?: string };
};

function hostnames(cla: ClusterLoadAssignment): string[] {
  return cla.endpoints.flatMap((l) => l.lbEndpoints.map((lb) => (lb.hostIdentifier.case === 'endpoint' ? lb.hostIdentifier.value.hostname : '')));
}

function assignments(input: ReturnType<typeof handInput>, proxy: ProxyClass): ClusterLoadAssignment[] {
  return translateWithWarnings(input, proxy).resources.endpoint.map((r) => r.message as ClusterLoadAssignment);
}

test('an endpoint at the IPv4-mapped spelling of another one\'s address is that socket: listed once, the Envoy set stays servable', () => {
  // a backs up shard 0 and 2, so Envoy lists it at priority 1 as ::ffff:10.0.0.1, b's own address.
  const eps = [endpoint('a', '10.0.0.1'), endpoint('b', '::ffff:10.0.0.1'), endpoint('c', '10.0.0.3')];
  const input = handInput(eps, [['b', 'a'], ['a', 'c'], ['c', 'a']]);
  for (const proxy of [ENVOY, GRPC, PICKER]) {
    const t = translateWithWarnings(input, proxy);
    assert.deepEqual(checkConsistency(t.resources), [], proxy.flavor);
    const names = t.resources.endpoint.flatMap((r) => hostnames(r.message as ClusterLoadAssignment));
    assert.ok(!names.includes('b'), `${proxy.flavor}: b is a's socket and is left out`);
    assert.ok(t.warnings.some((w) => w.includes('endpoint b shares address 10.0.0.1:8080 with a')), t.warnings.join('\n'));
  }
});

test('an IPv6 address spelled two ways is one host: only the first by id is listed', () => {
  const eps = [endpoint('a', '2001:db8::1'), endpoint('b', '2001:DB8:0::1'), endpoint('c', '10.0.0.3')];
  const input = handInput(eps, [['b', 'c'], ['a', 'c'], ['c', 'b']]);
  for (const proxy of [ENVOY, GRPC, PICKER]) {
    const t = translateWithWarnings(input, proxy);
    assert.deepEqual(checkConsistency(t.resources), [], proxy.flavor);
    const names = t.resources.endpoint.flatMap((r) => hostnames(r.message as ClusterLoadAssignment));
    assert.ok(names.includes('a') && !names.includes('b'), `${proxy.flavor}: ${names.join(',')}`);
  }
});

test('the consistency check sees one address in two IPv6 spellings, but not an IPv4 address and its mapped alias', () => {
  const cla = (a: string, b: string): ClusterLoadAssignment =>
    create(ClusterLoadAssignmentSchema, {
      clusterName: 'c',
      endpoints: [0, 1].map((priority) => ({
        priority,
        lbEndpoints: [{ hostIdentifier: { case: 'endpoint' as const, value: { address: socketAddress(priority === 0 ? a : b, 80) } } }],
      })),
    });
  const problems = (m: ClusterLoadAssignment): string[] => checkConsistency({ cluster: [], endpoint: [{ name: 'c', schema: ClusterLoadAssignmentSchema, message: m }], listener: [], route: [], assignment: [] } as never).filter((p) => p.includes('listed twice'));
  assert.equal(problems(cla('2001:db8::1', '2001:DB8:0:0::1')).length, 1);
  assert.deepEqual(problems(cla('10.0.0.1', '::ffff:10.0.0.1')), []);
});

test('weights at the largest topology: no locality and no priority sums past uint32 (gRPC rejects the assignment)', () => {
  // MAX_ENDPOINTS heavy nodes over two zones, each leading one shard: the `any` and picker
  // assignments list them all at priority 0, the Envoy one too.
  const eps = Array.from({ length: MAX_ENDPOINTS }, (_, i) =>
    endpoint(`n${i}`, `10.1.${i >> 8}.${i & 255}`, { weight: 1e4 + i, locality: locality(i % 2 === 0 ? 'za' : 'zb', '') }),
  );
  const input = handInput(eps, eps.map((e) => [e.id]), { missingHeader: 'any' });
  for (const proxy of [ENVOY, GRPC, PICKER]) {
    const t = translateWithWarnings(input, proxy);
    assert.deepEqual(checkConsistency(t.resources), [], proxy.flavor);
    for (const cla of assignments(input, proxy)) {
      if (proxy.flavor === 'grpc') {
        const decoded = grpcEds.decode({}, { type_url: TYPE_URL.endpoint, value: Buffer.from(toBinary(ClusterLoadAssignmentSchema, cla)) });
        assert.equal(decoded.error, undefined, `grpc-js-xds on ${cla.clusterName}`);
      }
      const perPriority = new Map<number, number>();
      for (const l of cla.endpoints) {
        perPriority.set(l.priority, (perPriority.get(l.priority) ?? 0) + (l.loadBalancingWeight ?? 0));
        const sum = l.lbEndpoints.reduce((n, lb) => n + (lb.loadBalancingWeight ?? 1), 0);
        assert.ok(sum <= UINT32_MAX, `${proxy.flavor} ${cla.clusterName}: locality sum ${sum}`);
      }
      for (const [p, sum] of perPriority) assert.ok(sum <= UINT32_MAX, `${proxy.flavor} ${cla.clusterName}: priority ${p} sums ${sum}`);
    }
  }
});

test('the consistency check reports summed weights past uint32', () => {
  const heavy = create(ClusterLoadAssignmentSchema, {
    clusterName: 'c',
    endpoints: ['a', 'b'].map((zone, i) => ({
      locality: { zone },
      loadBalancingWeight: 3_000_000_000,
      lbEndpoints: [1, 2].map((j) => ({
        loadBalancingWeight: 3_000_000_000,
        hostIdentifier: { case: 'endpoint' as const, value: { address: socketAddress(`10.0.${i}.${j}`, 80) } },
      })),
    })),
  });
  const problems = checkConsistency({ cluster: [], endpoint: [{ name: 'c', schema: ClusterLoadAssignmentSchema, message: heavy }], listener: [], route: [], assignment: [] } as never).filter((p) => p.includes('above 4294967295'));
  assert.equal(problems.length, 3, problems.join('\n')); // two localities, one priority
});

test('an endpoint\'s own IPv4-mapped address carries ipv4_compat, as the alias does (else Envoy cannot reach the peer)', () => {
  const compat = (address: string): boolean => {
    const a = socketAddress(address, 80).address;
    return a.case === 'socketAddress' && a.value.ipv4Compat;
  };
  assert.equal(compat('::ffff:10.0.0.1'), true);
  assert.equal(compat('::FFFF:a00:1'), true);
  assert.equal(compat('0:0:0:0:0:ffff:10.0.0.1'), true);
  assert.equal(compat('10.0.0.1'), false);
  assert.equal(compat('2001:db8::1'), false);
  assert.equal(compat('::ffff:0:10.0.0.1'), false); // IPv4-translated, not mapped
  const eps = [endpoint('a', '::ffff:10.0.0.1'), endpoint('c', '10.0.0.3')];
  for (const envoy of [{}, { routeShape: 'table' as const }]) {
    const [cla] = assignments(handInput(eps, [['a', 'c'], ['c', 'a']], envoy), ENVOY).filter((c) => hostnames(c).includes('a'));
    const own = cla!.endpoints.flatMap((l) => l.lbEndpoints).find((lb) => lb.hostIdentifier.case === 'endpoint' && lb.hostIdentifier.value.hostname === 'a');
    const address = own?.hostIdentifier.case === 'endpoint' ? own.hostIdentifier.value.address?.address : undefined;
    assert.ok(address?.case === 'socketAddress' && address.value.ipv4Compat, JSON.stringify(envoy));
  }
});
