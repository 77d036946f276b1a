// Properties of the Envoy flavor's route-table shape (`envoy.routeShape: table`, docs/xds.md
// "Route shape") that must hold whatever the golden text says: each shard routes to its primary's
// cluster, which holds the other owners of its shards at priority 1 for failover, a hot shard's readers share it
// by weight, the node clusters carry the failover settings, and the listener needs neither
// header_to_metadata nor the reply mapper.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { toBinary } from '@bufbuild/protobuf';
import { anyUnpack, type Any } from '@bufbuild/protobuf/wkt';
import {
  ClusterSchema,
  FilterConfigSchema,
  HttpConnectionManagerSchema,
  LuaPerRouteSchema,
  ListenerSchema,
  LuaSchema,
  RouteSchema,
  type Cluster,
  type ClusterLoadAssignment,
  type Listener,
  type Route,
  type RouteConfiguration,
  type VirtualHost,
} from '../../../src/xds/proto.js';
import { KEY_SHARD_SOURCE } from '../../../src/xds/translator/envoy-key-shard.js';
import type { ProxyClass, ResourceSet } from '../../../src/xds/resources.js';
import { CIRCUIT_BREAKER_LIMIT, checkConsistency, resourceSetToJson, translate } from '../../../src/xds/translator/index.js';
import { computedInput, endpoint, handInput, nodeChanges, sixNodes } from './fixtures.js';

const ENVOY: ProxyClass = { flavor: 'envoy', zone: '', subzone: '' };

/** The matcher's route for each shard header value, and its no-match route. */
function matcherRoutes(set: ResourceSet): { byShard: Map<string, Route>; noMatch: Route; vhost: VirtualHost } {
  const vh = (set.route[0]!.message as RouteConfiguration).virtualHosts[0]!;
  assert.equal(vh.routes.length, 0, 'the route table has no plain routes');
  const tree = vh.matcher!.matcherType;
  assert.equal(tree.case, 'matcherTree');
  assert.equal(tree.value!.treeType.case, 'exactMatchMap');
  const unpack = (config: Any | undefined): Route => anyUnpack(config!, RouteSchema)!;
  const byShard = new Map(Object.entries(tree.value!.treeType.value!.map).map(([k, m]) => [k, unpack(m.onMatch.case === 'action' ? m.onMatch.value.typedConfig : undefined)]));
  const none = vh.matcher!.onNoMatch!.onMatch;
  return { byShard, noMatch: unpack(none.case === 'action' ? none.value.typedConfig : undefined), vhost: vh };
}

const LUA = 'envoy.filters.http.lua';

/** What a Lua per-filter config entry does: 'disabled', the script name it runs, or 'none'. */
function luaOverride(config: Any | undefined): string {
  const filter = config && anyUnpack(config, FilterConfigSchema);
  if (!filter) return 'none';
  if (filter.disabled) return 'disabled';
  const perRoute = filter.config && anyUnpack(filter.config, LuaPerRouteSchema);
  return perRoute?.override.case === 'name' ? perRoute.override.value : 'none';
}

function targets(route: Route): { name: string; weight: number }[] {
  assert.equal(route.action.case, 'route');
  const spec = route.action.value!.clusterSpecifier;
  if (spec.case === 'cluster') return [{ name: spec.value, weight: 1 }];
  assert.equal(spec.case, 'weightedClusters');
  return spec.value!.clusters.map((c) => ({ name: c.name, weight: c.weight ?? 0 }));
}

function clusters(set: ResourceSet): Map<string, Cluster> {
  return new Map(set.cluster.map((r) => [r.name, r.message as Cluster]));
}

/** A node cluster's hosts: id, priority, weight, and whether Envoy health-checks it there. */
function hostsOf(set: ResourceSet, name: string): { id: string; priority: number; weight: number; checked: boolean }[] {
  const cla = set.endpoint.find((e) => e.name === name)!.message as ClusterLoadAssignment;
  return cla.endpoints.flatMap((l) =>
    l.lbEndpoints.map((h) => {
      const e = h.hostIdentifier.case === 'endpoint' ? h.hostIdentifier.value : undefined;
      return { id: e?.hostname ?? '', priority: l.priority, weight: h.loadBalancingWeight ?? 0, checked: e?.healthCheckConfig?.disableActiveHealthCheck !== true };
    }),
  );
}

test("each shard routes to its primary's cluster; each node's cluster holds its shards' other owners at priority 1, unchecked", () => {
  const input = computedInput(sixNodes(), { shardCount: 64, replicas: 3, spread: 'zone' }, { routeShape: 'table' });
  const set = translate(input, ENVOY);
  assert.deepEqual(checkConsistency(set), []);
  const byName = clusters(set);
  const { byShard } = matcherRoutes(set);
  assert.equal(byShard.size, 64);
  input.shardMap.owners.forEach((owners, shard) => {
    const route = byShard.get(String(shard))!;
    assert.deepEqual(targets(route), [{ name: `keyway-cache/node/${owners[0]}`, weight: 1 }], `shard ${shard}: its primary`);
    assert.deepEqual(Object.keys(route.typedPerFilterConfig), [], `shard ${shard}: no per-filter config of its own (the virtual host's applies)`);
  });
  assert.equal(byName.size, sixNodes().length, 'one cluster per node, nothing else');
  for (const node of sixNodes()) {
    const name = `keyway-cache/node/${node.id}`;
    const c = byName.get(name)!;
    assert.equal(c.healthChecks.length, 1, `${name} is health-checked`);
    assert.ok(c.outlierDetection, `${name} has outlier detection`);
    assert.deepEqual(c.circuitBreakers?.thresholds.map((t) => [t.maxConnections, t.maxPendingRequests, t.maxRequests, t.maxRetries]), [[CIRCUIT_BREAKER_LIMIT, CIRCUIT_BREAKER_LIMIT, CIRCUIT_BREAKER_LIMIT, CIRCUIT_BREAKER_LIMIT]], `${name}: Envoy refuses nothing of its own`);
    assert.equal(c.lbSubsetConfig, undefined, `${name} has no subset load balancer`);
    const hosts = hostsOf(set, name);
    assert.deepEqual(hosts.filter((h) => h.priority === 0), [{ id: node.id, priority: 0, weight: node.weight * 100, checked: true }]);
    // Priority 1: the other owners of the shards it leads, weighted by how many of them each holds.
    const expected = new Map<string, number>();
    for (const owners of input.shardMap.owners) {
      if (owners[0] !== node.id) continue;
      for (const other of owners.slice(1)) expected.set(other, (expected.get(other) ?? 0) + 1);
    }
    assert.ok(expected.size > 0 && expected.size < sixNodes().length - 1, `the fixture gives ${node.id} some backups, not every node (${expected.size})`);
    const fallback = hosts.filter((h) => h.priority === 1);
    assert.deepEqual(
      fallback.map((h) => [h.id, h.weight]).sort(),
      [...expected].sort(),
      `${name}: its shards' other owners back it up, weighted by shard count`,
    );
    assert.ok(fallback.every((h) => !h.checked), `${name}: the backups are checked in their own clusters`);
  }
});

test("a hot shard's readers share it through their node clusters, weighted like the readers", () => {
  const nodes = [endpoint('a', '10.0.0.1', { weight: 1 }), endpoint('b', '10.0.0.2', { weight: 2 }), endpoint('c', '10.0.0.3', { weight: 1 })];
  const input = handInput(nodes, [['a', 'b', 'c'], ['b', 'c']], { routeShape: 'table' });
  const set = translate({ ...input, shardMap: { ...input.shardMap, readers: new Map([[0, 2]]) } }, ENVOY);
  assert.deepEqual(checkConsistency(set), []);
  const { byShard } = matcherRoutes(set);
  assert.deepEqual(targets(byShard.get('0')!), [
    { name: 'keyway-cache/node/a', weight: 100 },
    { name: 'keyway-cache/node/b', weight: 200 },
  ]);
  assert.deepEqual(targets(byShard.get('1')!), [{ name: 'keyway-cache/node/b', weight: 1 }]);
  // a's cluster: b (the other reader) and c back up shard 0; b's: a and c (shard 0), c (shard 1).
  assert.deepEqual(hostsOf(set, 'keyway-cache/node/a').filter((h) => h.priority === 1).map((h) => [h.id, h.weight]), [['b', 1], ['c', 1]]);
  assert.deepEqual(hostsOf(set, 'keyway-cache/node/b').filter((h) => h.priority === 1).map((h) => [h.id, h.weight]), [['a', 1], ['c', 2]]);
  assert.deepEqual(hostsOf(set, 'keyway-cache/node/c').filter((h) => h.priority === 1), [], 'c takes no shard: nothing to fail over');
});

test('missingHeader: any spreads over every node by weight, reject answers 400; a shard nobody serves answers 503', () => {
  const nodes = [endpoint('a', '10.0.0.1', { weight: 1 }), endpoint('b', '10.0.0.2', { weight: 3 })];
  const any = matcherRoutes(translate(handInput(nodes, [['a'], [], ['b']], { routeShape: 'table', missingHeader: 'any' }), ENVOY));
  assert.deepEqual(targets(any.noMatch), [
    { name: 'keyway-cache/node/a', weight: 100 },
    { name: 'keyway-cache/node/b', weight: 300 },
  ]);
  assert.equal(luaOverride(any.vhost.typedPerFilterConfig[LUA]), 'disabled', 'the virtual host keeps the Lua filter out: a request naming its shard skips it');
  assert.equal(luaOverride(any.noMatch.typedPerFilterConfig[LUA]), KEY_SHARD_SOURCE, 'the no-match route runs the key-to-shard script');
  const unowned = any.byShard.get('1')!;
  assert.equal(unowned.action.case, 'directResponse');
  assert.equal(unowned.action.value!.status, 503);
  const reject = matcherRoutes(translate(handInput(nodes, [['a'], ['b']], { routeShape: 'table', missingHeader: 'reject' }), ENVOY));
  assert.equal(reject.noMatch.action.case, 'directResponse');
  assert.equal(reject.noMatch.action.value!.status, 400);
  assert.equal(luaOverride(reject.noMatch.typedPerFilterConfig[LUA]), KEY_SHARD_SOURCE, 'a key-only request gets its shard before the 400 would apply');
});

test('a draining node keeps its cluster after its routes moved off it (Envoy may apply clusters before routes); one that left or failed has none', () => {
  const nodes = [
    endpoint('a', '10.0.0.1'),
    endpoint('b', '10.0.0.2'),
    endpoint('c', '10.0.0.3', { draining: true }),
    endpoint('d', '10.0.0.4', { ready: false }),
  ];
  const set = translate(handInput(nodes, [['a', 'b'], ['b', 'a']], { routeShape: 'table', missingHeader: 'any' }), ENVOY);
  assert.deepEqual(checkConsistency(set), []);
  assert.deepEqual([...clusters(set).keys()], ['keyway-cache/node/a', 'keyway-cache/node/b', 'keyway-cache/node/c']);
  assert.deepEqual(hostsOf(set, 'keyway-cache/node/c'), [{ id: 'c', priority: 0, weight: 100, checked: true }], 'no backups: nothing is routed to it');
  const { byShard, noMatch } = matcherRoutes(set);
  assert.ok([...byShard.values()].every((r) => !targets(r).some((t) => t.name.endsWith('/c'))), 'no shard routes to the draining node');
  assert.deepEqual(targets(noMatch).map((t) => t.name), ['keyway-cache/node/a', 'keyway-cache/node/b'], 'nor do requests without a shard');
});

test('one listener for both shapes: the route table turns off the default Lua script and header_to_metadata in its virtual host, and names the script on its no-match route', () => {
  const policy = { shardCount: 16, replicas: 2, spread: 'none' as const };
  const table = translate(computedInput(sixNodes(), policy, { routeShape: 'table' }), ENVOY);
  const subset = translate(computedInput(sixNodes(), policy, { routeShape: 'subset' }), ENVOY);
  // A reload that switches the shape changes no listener: Envoy's connections keep the listener
  // that accepted them and take the new routes, which must work with it.
  const listenerBytes = (set: ResourceSet) => set.listener.map((l) => Buffer.from(toBinary(ListenerSchema, l.message as Listener)).toString('base64'));
  assert.deepEqual(listenerBytes(table), listenerBytes(subset));
  const config = (table.listener[0]!.message as Listener).filterChains[0]!.filters[0]!.configType;
  assert.equal(config.case, 'typedConfig');
  const hcm = anyUnpack(config.value!, HttpConnectionManagerSchema)!;
  assert.deepEqual(hcm.httpFilters.map((f) => f.name), ['envoy.filters.http.lua', 'envoy.filters.http.header_to_metadata', 'envoy.filters.http.router']);
  const lua = anyUnpack(hcm.httpFilters[0]!.configType.value as Any, LuaSchema)!;
  assert.ok(lua.defaultSourceCode, 'the default script, for the subset shape');
  assert.deepEqual(Object.keys(lua.sourceCodes), [KEY_SHARD_SOURCE], 'the named script, for the no-match route of the table');
  const { vhost, noMatch } = matcherRoutes(table);
  const disabled = (a: Any | undefined) => (a ? anyUnpack(a, FilterConfigSchema)?.disabled : undefined);
  assert.equal(disabled(vhost.typedPerFilterConfig['envoy.filters.http.lua']), true);
  assert.equal(disabled(vhost.typedPerFilterConfig['envoy.filters.http.header_to_metadata']), true);
  assert.equal(disabled(noMatch.typedPerFilterConfig['envoy.filters.http.lua']), false, 'the no-match route runs the named script');
  assert.equal(noMatch.typedPerFilterConfig['envoy.filters.http.header_to_metadata'], undefined, 'and keeps header_to_metadata off');
});

test('an ownership change touches the route table and the endpoints, never a cluster', () => {
  const policy = { shardCount: 32, replicas: 2, spread: 'none' as const };
  const before = translate(computedInput(sixNodes(), policy, { routeShape: 'table' }), ENVOY);
  const after = translate(computedInput(sixNodes().map((e) => (e.id === 'gpu-a1' ? { ...e, weight: 5 } : e)), policy, { routeShape: 'table' }), ENVOY);
  const nodeClusters = (set: ResourceSet) => set.cluster.map((c) => toBinary(ClusterSchema, c.message as Cluster));
  assert.deepEqual(nodeClusters(after), nodeClusters(before));
  assert.notDeepEqual(matcherRoutes(after).byShard, matcherRoutes(before).byShard);
});

test('a map change hands back the previous objects of what it left unchanged (node clusters, assignments, table entries), and equals a fresh translation', () => {
  const nodes = ['a', 'b', 'c', 'd', 'e'].map((id, i) => endpoint(id, `10.0.0.${i + 1}`));
  const owners = Array.from({ length: 10 }, (_, s) => [['a', 'b'], ['b', 'c'], ['e', 'a']][s % 3]!);
  const first = handInput(nodes, owners, { routeShape: 'table' });
  // The same settings object, shard 4 moved from (b, c) to (d, c): b's and d's backups change.
  const second = { ...first, shardMap: handInput(nodes, owners.map((o, s) => (s === 4 ? ['d', 'c'] : o))).shardMap };
  const before = translate(first, ENVOY);
  const after = translate(second, ENVOY);
  after.cluster.forEach((c, i) => assert.equal(c, before.cluster[i], `${c.name}: the same object`));
  const kept = after.endpoint.filter((a, i) => a === before.endpoint[i]).map((a) => a.name);
  assert.deepEqual(kept, ['keyway-cache/node/a', 'keyway-cache/node/c', 'keyway-cache/node/e'], 'only b and d got new backups');
  const entries = (set: ResourceSet) => {
    const tree = (set.route[0]!.message as RouteConfiguration).virtualHosts[0]!.matcher!.matcherType;
    assert.equal(tree.case, 'matcherTree');
    assert.equal(tree.value.treeType.case, 'exactMatchMap');
    return tree.value.treeType.value.map;
  };
  for (const k of Object.keys(entries(after))) {
    if (k === '4') assert.notEqual(entries(after)[k], entries(before)[k], 'shard 4 moved: a new entry');
    else assert.equal(entries(after)[k], entries(before)[k], `shard ${k} kept: the same entry`);
  }
  // After an unrelated translation (nothing to reuse), the same input gives the same bytes.
  translate(handInput([endpoint('x', '10.9.9.9')], [['x']], { routeShape: 'table' }), ENVOY);
  const fresh = translate({ ...second, topology: { ...second.topology, xds: { ...second.topology.xds, envoy: { ...second.topology.xds.envoy } } } }, ENVOY);
  assert.deepEqual(resourceSetToJson(fresh), resourceSetToJson(after));
  assert.notEqual(fresh.cluster[0], after.cluster[0], 'a new settings object: new clusters');
});

test('over a sequence of changes to weights, addresses, ports, localities and readiness, every kept object equals what a fresh translation gives', () => {
  const policy = { shardCount: 48, replicas: 2, spread: 'none' as const };
  let nodes = sixNodes();
  const first = computedInput(nodes, policy, { routeShape: 'table' });
  const sequence = nodeChanges(7, ['z0', 'z1', 'z2']);
  const made = new Set<number>();
  for (let step = 0; step < 30; step++) {
    const change = sequence.next(nodes);
    nodes = change.nodes;
    made.add(change.kind);
    const input = { ...first, shardMap: computedInput(nodes, policy).shardMap };
    const kept = translate(input, ENVOY); // reuses the previous step's objects (the same settings object)
    translate(computedInput([endpoint('x', '10.9.9.9')], policy, { routeShape: 'table' }), ENVOY); // forgets them
    const fresh = translate({ ...input, topology: { ...input.topology, xds: { ...input.topology.xds, envoy: { ...input.topology.xds.envoy } } } }, ENVOY);
    assert.deepEqual(resourceSetToJson(kept), resourceSetToJson(fresh), `step ${step}`);
    translate(input, ENVOY); // the next step reuses from this input again
  }
  assert.equal(made.size, sequence.kinds, 'every kind of change was made');
});
