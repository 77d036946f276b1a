// Properties of the proxyless gRPC flavor: one exact-match route per owned shard to the cluster of
// its owner tuple, owners as EDS priorities (primary at 0), replicas ordered by the proxy's fabric,
// the missing-header policy, and acceptance by grpc-js-xds's own resource validation.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { toBinary } from '@bufbuild/protobuf';
import { anyUnpack } from '@bufbuild/protobuf/wkt';
import {
  Cluster_LbPolicy,
  type Cluster,
  type ClusterLoadAssignment,
  type HttpConnectionManager,
  type Listener,
  type RouteConfiguration,
} from '../../../src/xds/proto.js';
import { KIND_ORDER, TYPE_URL, type ProxyClass, type ResourceSet } from '../../../src/xds/resources.js';
import { XDS_REGISTRY, checkConsistency, resourceSetToJson, translate, translateWithWarnings } from '../../../src/xds/translator/index.js';
import { computedInput, endpoint, handInput, locality, nodeChanges, sixNodes } from './fixtures.js';
import { grpcJsValidators } from './grpc-js-validate.js';

const GRPC: ProxyClass = { flavor: 'grpc', zone: '', subzone: '' };

function routes(set: ResourceSet): { shard: string | undefined; cluster: string }[] {
  const rc = set.route[0]!.message as RouteConfiguration;
  assert.equal(rc.virtualHosts.length, 1);
  // A call in flight on a node that dies is retried (and the priority policy sends it to a replica).
  assert.deepEqual([rc.virtualHosts[0]!.retryPolicy?.retryOn, rc.virtualHosts[0]!.retryPolicy?.numRetries], ['cancelled,unavailable', 2]);
  return rc.virtualHosts[0]!.routes.map((r) => {
    assert.ok(r.action.case === 'route' && r.action.value.clusterSpecifier.case === 'cluster');
    const h = r.match!.headers[0];
    let shard: string | undefined;
    if (h !== undefined) {
      assert.equal(h.name, 'x-cache-shard');
      assert.ok(h.headerMatchSpecifier.case === 'stringMatch' && h.headerMatchSpecifier.value.matchPattern.case === 'exact');
      shard = h.headerMatchSpecifier.value.matchPattern.value;
    }
    return { shard, cluster: r.action.value.clusterSpecifier.value };
  });
}

/** cluster name -> endpoint ids per priority */
function priorities(set: ResourceSet): Map<string, string[][]> {
  return new Map(
    set.endpoint.map((r) => {
      const cla = r.message as ClusterLoadAssignment;
      const levels: string[][] = [];
      for (const l of cla.endpoints) {
        assert.ok(l.locality !== undefined, `${cla.clusterName}: locality set`);
        assert.ok((l.loadBalancingWeight ?? 0) >= 1, `${cla.clusterName}: locality weight set`);
        levels[l.priority] = [...(levels[l.priority] ?? []), ...l.lbEndpoints.map((lb) => (lb.hostIdentifier.case === 'endpoint' ? lb.hostIdentifier.value.hostname : '?'))];
      }
      return [cla.clusterName, levels];
    }),
  );
}

test('one exact route per shard to the cluster of its owner tuple; owners become priorities, primary first', () => {
  const input = computedInput(sixNodes(), { shardCount: 64, replicas: 3, spread: 'zone' });
  const set = translate(input, GRPC);
  assert.deepEqual(checkConsistency(set), []);
  const rs = routes(set);
  const shardRoutes = rs.filter((r) => r.shard !== undefined);
  assert.deepEqual(shardRoutes.map((r) => r.shard), input.shardMap.owners.map((_, s) => String(s)));
  const levels = priorities(set);
  input.shardMap.owners.forEach((owners, shard) => {
    const cluster = shardRoutes[shard]!.cluster;
    assert.equal(cluster, `keyway-cache/owners/${owners.join(',')}`);
    assert.deepEqual(levels.get(cluster), owners.map((id) => [id]), `shard ${shard}`);
  });
  const tuples = new Set(input.shardMap.owners.map((o) => o.join(',')));
  assert.equal(set.cluster.length, tuples.size + 1, 'one cluster per owner tuple plus the catch-all');
  assert.ok(tuples.size < 64, 'shards with equal owners share a cluster');
  for (const c of set.cluster) {
    const cluster = c.message as Cluster;
    assert.equal(cluster.lbPolicy, Cluster_LbPolicy.ROUND_ROBIN);
    assert.equal(cluster.edsClusterConfig?.edsConfig?.configSourceSpecifier.case, 'ads');
    assert.equal(cluster.lbSubsetConfig, undefined);
  }
});

test('missing header: any = last route without header match to every serving owner; reject = no catch-all', () => {
  const nodes = sixNodes();
  nodes[0] = { ...nodes[0]!, ready: false };
  const policy = { shardCount: 16, replicas: 2, spread: 'none' as const };
  const any = translate(computedInput(nodes, policy, { missingHeader: 'any' }), GRPC);
  const last = routes(any).at(-1)!;
  assert.deepEqual(last, { shard: undefined, cluster: 'keyway-cache/any' });
  assert.deepEqual(priorities(any).get('keyway-cache/any')!.flat().sort(), nodes.slice(1).map((e) => e.id).sort());
  assert.equal(priorities(any).get('keyway-cache/any')!.length, 1, 'all at priority 0');

  const reject = translate(computedInput(nodes, policy, { missingHeader: 'reject' }), GRPC);
  assert.ok(routes(reject).every((r) => r.shard !== undefined));
  assert.ok(!reject.cluster.some((c) => c.name === 'keyway-cache/any'));
  assert.deepEqual(checkConsistency(reject), []);
});

test('replicas ordered by nearness to the proxy; primary stays first; only EDS differs between proxy classes', () => {
  const nodes = [
    endpoint('p', '10.0.0.1', { locality: locality('z1', 'f1') }),
    endpoint('far', '10.0.0.2', { locality: locality('z2', 'f2') }),
    endpoint('zone', '10.0.0.3', { locality: locality('z3', 'f3') }),
    endpoint('fabric', '10.0.0.4', { locality: locality('z3', 'f4') }),
  ];
  const input = handInput(nodes, [['p', 'far', 'zone', 'fabric']]);
  const near = translate(input, { flavor: 'grpc', zone: 'z3', subzone: 'f4' });
  const plain = translate(input, GRPC);
  const name = 'keyway-cache/owners/p,far,zone,fabric';
  assert.deepEqual(priorities(near).get(name), [['p'], ['fabric'], ['zone'], ['far']]);
  assert.deepEqual(priorities(plain).get(name), [['p'], ['far'], ['zone'], ['fabric']]);
  // A fabric name matches only inside the proxy's zone.
  const otherZone = translate(input, { flavor: 'grpc', zone: 'z9', subzone: 'f4' });
  assert.deepEqual(priorities(otherZone).get(name), [['p'], ['far'], ['zone'], ['fabric']]);
  for (const kind of ['cluster', 'listener', 'route'] as const) {
    const enc = (s: ResourceSet) => s[kind].map((r) => Buffer.from(toBinary(r.schema, r.message)).toString('hex')).join();
    assert.equal(enc(near), enc(plain), kind);
  }
});

test('API listener named after the service: HTTP connection manager, RDS over ADS, router as the only filter', () => {
  const set = translate(computedInput(sixNodes(), { shardCount: 8, replicas: 2, spread: 'none' }), GRPC);
  const l = set.listener[0]!.message as Listener;
  assert.equal(l.name, 'keyway-cache');
  assert.equal(l.filterChains.length, 0);
  const hcm = anyUnpack(l.apiListener!.apiListener!, XDS_REGISTRY) as HttpConnectionManager;
  assert.ok(hcm.routeSpecifier.case === 'rds');
  assert.equal(hcm.routeSpecifier.value.routeConfigName, 'keyway-cache');
  assert.deepEqual(hcm.httpFilters.map((f) => f.name), ['envoy.filters.http.router']);
});

test('a shard without owners gets no route', () => {
  const nodes = [endpoint('a', '10.0.0.1'), endpoint('b', '10.0.0.2', { ready: false })];
  const set = translate(handInput(nodes, [['a'], ['b'], []], { missingHeader: 'reject' }), GRPC);
  assert.deepEqual(routes(set), [{ shard: '0', cluster: 'keyway-cache/owners/a' }]);
  assert.deepEqual(checkConsistency(set), []);
});

test('host-name addresses are flagged (gRPC needs IP literals)', () => {
  const { warnings } = translateWithWarnings(handInput([endpoint('a', 'cache-0.example')], [['a']]), GRPC);
  assert.ok(warnings.some((w) => w.includes('cache-0.example')));
});

// grpc-js-xds's own decoder and validator (the code a real client runs on each resource).
const validators = grpcJsValidators;

test('grpc-js-xds accepts every resource of the gRPC flavor', () => {
  const inputs = [
    computedInput(sixNodes(), { shardCount: 32, replicas: 3, spread: 'zone' }),
    computedInput(sixNodes(), { shardCount: 8, replicas: 2, spread: 'none' }, { missingHeader: 'reject' }),
    handInput([endpoint('v6', 'fd00::1'), endpoint('v4', '10.0.0.1')], [['v6', 'v4'], ['v4', 'v6']]),
  ];
  const context = { bootstrap: { certificateProviders: {} } };
  for (const input of inputs) {
    const set = translate(input, { flavor: 'grpc', zone: 'za', subzone: 'nvl-a1' });
    for (const kind of KIND_ORDER) {
      for (const r of set[kind] ?? []) {
        const value = Buffer.from(toBinary(r.schema, r.message));
        const decoded = validators[kind]!.decode(context, { type_url: TYPE_URL[kind], value });
        assert.equal(decoded.error, undefined, `${kind} ${r.name}: ${decoded.error}`);
        assert.equal(decoded.name, r.name);
      }
    }
  }
});

test('grpc-js-xds rejects what keyway must never send (the check is not vacuous)', () => {
  const set = translate(handInput([endpoint('a', 'cache-0.example')], [['a']]), GRPC);
  const r = set.endpoint.find((e) => e.name === 'keyway-cache/owners/a')!;
  const decoded = validators.endpoint!.decode({}, { type_url: TYPE_URL.endpoint, value: Buffer.from(toBinary(r.schema, r.message)) });
  assert.match(decoded.error ?? '', /not a valid IPv4 or IPv6 address/);
});

test('kept from one map to the next, per-tuple clusters, assignments and routes equal a fresh translation, for each class over a sequence of node changes', () => {
  const policy = { shardCount: 48, replicas: 2, spread: 'none' as const };
  const classes: ProxyClass[] = [GRPC, { flavor: 'grpc', zone: 'za', subzone: 'nvl-a1' }, { flavor: 'grpc', zone: 'zb', subzone: 'nvl-b2' }];
  let nodes = sixNodes();
  const sequence = nodeChanges(5, ['za', 'zb', 'zc']);
  const made = new Set<number>();
  let kept = 0;
  let last = new Map<string, ResourceSet>();
  for (let step = 0; step < 30; step++) {
    const change = sequence.next(nodes);
    nodes = change.nodes;
    made.add(change.kind);
    const input = computedInput(nodes, policy);
    const now = new Map(classes.map((p) => [`${p.zone}|${p.subzone}`, translate(input, p)]));
    for (const [k, set] of now) kept += set.endpoint.filter((r) => last.get(k)?.endpoint.includes(r)).length;
    for (const p of classes) {
      translate(computedInput([endpoint('x', '10.9.9.9')], policy), p); // forgets what it kept
      assert.deepEqual(resourceSetToJson(translate(input, p)), resourceSetToJson(now.get(`${p.zone}|${p.subzone}`)!), `step ${step}, class ${p.zone}|${p.subzone}`);
    }
    last = new Map(classes.map((p) => [`${p.zone}|${p.subzone}`, translate(input, p)]));
  }
  assert.equal(made.size, sequence.kinds, 'every kind of change was made');
  assert.ok(kept > 0, 'assignments were kept from one map to the next');
});
