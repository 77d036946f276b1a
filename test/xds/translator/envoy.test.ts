// Properties of the Envoy flavor that must hold whatever the golden text says: primary before
// replica through priorities, shard lists as strings, EDS-only updates on ownership change, and the
// settings (missing-header policy, upstream protocol) landing in the right fields.
import { test } from 'node:test';
import http from 'node:http';
import assert from 'node:assert/strict';
import { anyUnpack, type Any } from '@bufbuild/protobuf/wkt';
import { toBinary } from '@bufbuild/protobuf';
import {
  Cluster_LbSubsetConfig_LbSubsetFallbackPolicy as Fallback,
  Cluster_LbSubsetConfig_LbSubsetSelector_LbSubsetSelectorFallbackPolicy as SelectorFallback,
  CodecClientType,
  HeaderToMetadata_ValueType as Config_ValueType,
  HttpConnectionManager_ServerHeaderTransformation,
  type Cluster,
  type ClusterLoadAssignment,
  type HeaderToMetadata,
  type HttpConnectionManager,
  type HttpProtocolOptions,
  type Listener,
  type Lua,
  type FilterConfig,
  type Route,
  type Router,
  type RouteConfiguration,
} from '../../../src/xds/proto.js';
import type { ProxyClass, ResourceSet } from '../../../src/xds/resources.js';
import {
  CIRCUIT_BREAKER_LIMIT,
  XDS_REGISTRY,
  checkConsistency,
  keyShardLuaScript,
  resourceSetToJson,
  translate,
  translateWithWarnings,
  type TranslatorInput,
} from '../../../src/xds/translator/index.js';
import { computedInput, endpoint, handInput, sixNodes } from './fixtures.js';

const ENVOY: ProxyClass = { flavor: 'envoy', zone: '', subzone: '' };

interface Entry {
  id: string;
  priority: number;
  address: string;
  ipv4Compat: boolean;
  shards: string[];
  healthChecked: boolean;
}

function entries(set: ResourceSet): Entry[] {
  const cla = set.endpoint[0]!.message as ClusterLoadAssignment;
  return cla.endpoints.flatMap((l) =>
    l.lbEndpoints.map((lb) => {
      assert.equal(lb.hostIdentifier.case, 'endpoint');
      const ep = lb.hostIdentifier.value!;
      assert.equal(ep.address?.address.case, 'socketAddress');
      const sa = ep.address.address.value!;
      const shards = lb.metadata?.filterMetadata['envoy.lb']?.['cache-shard'];
      assert.ok(Array.isArray(shards) && shards.every((s) => typeof s === 'string'), 'cache-shard must be a list of strings');
      return { id: ep.hostname, priority: l.priority, address: sa.address, ipv4Compat: sa.ipv4Compat, shards: shards as string[], healthChecked: ep.healthCheckConfig?.disableActiveHealthCheck !== true };
    }),
  );
}

function byteEqual(a: ResourceSet, b: ResourceSet, kind: keyof ResourceSet): boolean {
  const enc = (s: ResourceSet) => (s[kind] ?? []).map((r) => Buffer.from(toBinary(r.schema, r.message)).toString('hex')).join('|');
  return enc(a) === enc(b);
}

test('each shard: its primary at priority 0, its replicas at priority 1 (IPv4 alias), nobody else', () => {
  const input = computedInput(sixNodes(), { shardCount: 64, replicas: 3, spread: 'zone' });
  const set = translate(input, ENVOY);
  assert.deepEqual(checkConsistency(set), []);
  const list = entries(set);
  const addressOf = new Map(input.shardMap.endpoints.map((e) => [e.id, e.address]));
  input.shardMap.owners.forEach((owners, shard) => {
    assert.equal(owners.length, 3);
    const holding = list.filter((e) => e.shards.includes(String(shard)));
    assert.deepEqual(holding.filter((e) => e.priority === 0).map((e) => e.id), [owners[0]], `shard ${shard} primary`);
    assert.deepEqual(holding.filter((e) => e.priority === 1).map((e) => e.id).sort(), owners.slice(1).sort(), `shard ${shard} replicas`);
    assert.equal(holding.length, owners.length);
  });
  for (const e of list) {
    const real = addressOf.get(e.id)!;
    assert.equal(e.address, e.priority === 0 ? real : `::ffff:${real}`);
    assert.equal(e.ipv4Compat, e.priority === 1);
    const numbers = e.shards.map(Number);
    assert.deepEqual(numbers, [...numbers].sort((a, b) => a - b), 'shards sorted numerically');
  }
});

test('one active health check per node: the alias of a node that also leads is not checked; a node that only backs up is', () => {
  // Shards 0 and 1: a leads 0, b leads 1, each backs up the other; c backs up both and leads nothing.
  const nodes = [endpoint('a', '10.0.0.1'), endpoint('b', '10.0.0.2'), endpoint('c', '10.0.0.3')];
  const set = translate(handInput(nodes, [['a', 'b', 'c'], ['b', 'a', 'c']]), ENVOY);
  const checked = Object.fromEntries(entries(set).map((e) => [`${e.id}@${e.priority}`, e.healthChecked]));
  assert.deepEqual(checked, { 'a@0': true, 'b@0': true, 'a@1': false, 'b@1': false, 'c@1': true });
});

test('not-ready and weight-0 endpoints are not listed; every listed entry owns something', () => {
  const nodes = sixNodes();
  nodes[1] = { ...nodes[1]!, ready: false };
  nodes[2] = { ...nodes[2]!, weight: 0 };
  const set = translate(computedInput(nodes, { shardCount: 32, replicas: 2, spread: 'none' }), ENVOY);
  const ids = new Set(entries(set).map((e) => e.id));
  assert.ok(!ids.has(nodes[1]!.id) && !ids.has(nodes[2]!.id));
  assert.equal(ids.size, 4);
  assert.ok(entries(set).every((e) => e.shards.length > 0));
});

test('an ownership change alters only the ClusterLoadAssignment (EDS-only update)', () => {
  const policy = { shardCount: 64, replicas: 2, spread: 'none' as const };
  const before = translate(computedInput(sixNodes().slice(0, 5), policy), ENVOY);
  const after = translate(computedInput(sixNodes(), policy), ENVOY);
  assert.ok(byteEqual(before, after, 'cluster'));
  assert.ok(byteEqual(before, after, 'listener'));
  assert.ok(byteEqual(before, after, 'route'));
  assert.ok(!byteEqual(before, after, 'endpoint'));
});

test('output is deterministic: endpoint order and repeated runs give identical bytes', () => {
  const policy = { shardCount: 16, replicas: 2, spread: 'subzone' as const };
  const a = translate(computedInput(sixNodes(), policy), ENVOY);
  const b = translate(computedInput([...sixNodes()].reverse(), policy), ENVOY);
  for (const kind of ['cluster', 'endpoint', 'listener', 'route'] as const) assert.ok(byteEqual(a, b, kind), kind);
});

test('Envoy output ignores the proxy locality', () => {
  const input = computedInput(sixNodes(), { shardCount: 16, replicas: 3, spread: 'zone' });
  const a = translate(input, ENVOY);
  const b = translate(input, { flavor: 'envoy', zone: 'zb', subzone: 'nvl-b1' });
  for (const kind of ['cluster', 'endpoint', 'listener', 'route'] as const) assert.ok(byteEqual(a, b, kind), kind);
});

function clusterOf(input: TranslatorInput): Cluster {
  return translate(input, ENVOY).cluster[0]!.message as Cluster;
}

test('cluster: subset LB on cache-shard, fallback by missing-header policy, EDS over ADS', () => {
  const nodes = sixNodes();
  const policy = { shardCount: 8, replicas: 2, spread: 'none' as const };
  for (const [missingHeader, fallback] of [['any', Fallback.ANY_ENDPOINT], ['reject', Fallback.NO_FALLBACK]] as const) {
    const c = clusterOf(computedInput(nodes, policy, { missingHeader }));
    assert.equal(c.name, 'keyway-cache');
    assert.equal(c.lbSubsetConfig?.fallbackPolicy, fallback);
    assert.equal(c.lbSubsetConfig?.listAsAny, true);
    assert.deepEqual(c.lbSubsetConfig?.subsetSelectors.map((s) => [s.keys, s.fallbackPolicy]), [[['cache-shard'], SelectorFallback.NO_FALLBACK]]);
    assert.equal(c.edsClusterConfig?.edsConfig?.configSourceSpecifier.case, 'ads');
    assert.equal(c.ignoreHealthOnHostRemoval, true);
    assert.deepEqual([c.commonLbConfig?.updateMergeWindow?.seconds, c.commonLbConfig?.updateMergeWindow?.nanos], [0n, 0]);
    // Past 1024 requests in flight (the whole fleet's, in this one cluster) Envoy's defaults answer
    // 503, and a dead primary fails every request in flight at once: each must be allowed its retry.
    const limit = CIRCUIT_BREAKER_LIMIT;
    assert.deepEqual(c.circuitBreakers?.thresholds.map((t) => [t.maxConnections, t.maxPendingRequests, t.maxRequests, t.maxRetries]), [[limit, limit, limit, limit]]);
  }
});

test('cluster: explicit HTTP/2 or HTTP/1.1 protocol options and health check, and idle connections closed before a 5 s upstream keep-alive', () => {
  const policy = { shardCount: 8, replicas: 2, spread: 'none' as const };
  const h2 = clusterOf(computedInput(sixNodes(), policy, { upstreamProtocol: 'http2' }));
  const packed = h2.typedExtensionProtocolOptions['envoy.extensions.upstreams.http.v3.HttpProtocolOptions'];
  assert.ok(packed);
  const opts = anyUnpack(packed, XDS_REGISTRY) as HttpProtocolOptions;
  assert.equal(opts.upstreamProtocolOptions.case, 'explicitHttpConfig');
  assert.equal(opts.upstreamProtocolOptions.value?.protocolConfig.case, 'http2ProtocolOptions');
  const hc = h2.healthChecks[0]!.healthChecker;
  assert.equal(hc.case === 'httpHealthCheck' && hc.value.codecClientType, CodecClientType.HTTP2);

  const h1 = clusterOf(computedInput(sixNodes(), policy, { upstreamProtocol: 'http1' }));
  const opts1 = anyUnpack(h1.typedExtensionProtocolOptions['envoy.extensions.upstreams.http.v3.HttpProtocolOptions']!, XDS_REGISTRY) as HttpProtocolOptions;
  assert.ok(opts1.upstreamProtocolOptions.case === 'explicitHttpConfig' && opts1.upstreamProtocolOptions.value.protocolConfig.case === 'httpProtocolOptions');
  // Below the keep-alive of Node's HTTP server (the example cache node's, 5 s) and uvicorn's: Envoy
  // must close an idle connection before the node does, or it reuses one the node is closing.
  for (const o of [opts, opts1]) {
    const idle = o.commonHttpProtocolOptions?.idleTimeout;
    assert.ok(idle && Number(idle.seconds) * 1000 + idle.nanos / 1e6 < new http.Server().keepAliveTimeout, 'idle timeout below 5 s');
  }
  const hc1 = h1.healthChecks[0]!.healthChecker;
  assert.equal(hc1.case === 'httpHealthCheck' && hc1.value.codecClientType, CodecClientType.HTTP1);
  assert.equal(hc1.case === 'httpHealthCheck' && hc1.value.path, '/healthz');
});

test('listener: port from settings, the key-to-shard Lua filter, header_to_metadata (x-cache-shard -> envoy.lb/cache-shard STRING), then router, RDS over ADS', () => {
  const set = translate(computedInput(sixNodes(), { shardCount: 8, replicas: 2, spread: 'none' }, { listenerPort: 15001 }), ENVOY);
  const l = set.listener[0]!.message as Listener;
  assert.equal(l.name, 'keyway-cache');
  const sa = l.address?.address;
  assert.ok(sa?.case === 'socketAddress');
  assert.equal(sa.value.address, '::'); // with ipv4_compat: IPv4 and IPv6 clients alike
  assert.equal(sa.value.ipv4Compat, true);
  assert.deepEqual(sa.value.portSpecifier, { case: 'portValue', value: 15001 });
  const f = l.filterChains[0]!.filters[0]!;
  assert.equal(f.name, 'envoy.filters.network.http_connection_manager');
  assert.ok(f.configType.case === 'typedConfig');
  const hcm = anyUnpack(f.configType.value, XDS_REGISTRY) as HttpConnectionManager;
  assert.ok(hcm.routeSpecifier.case === 'rds');
  assert.equal(hcm.routeSpecifier.value.routeConfigName, 'keyway-cache');
  assert.equal(hcm.routeSpecifier.value.configSource?.configSourceSpecifier.case, 'ads');
  assert.deepEqual(hcm.httpFilters.map((h) => h.name), ['envoy.filters.http.lua', 'envoy.filters.http.header_to_metadata', 'envoy.filters.http.router']);
  const lua = hcm.httpFilters[0]!.configType;
  assert.ok(lua.case === 'typedConfig');
  const source = (anyUnpack(lua.value, XDS_REGISTRY) as Lua).defaultSourceCode?.specifier;
  assert.ok(source?.case === 'inlineString');
  assert.equal(source.value, keyShardLuaScript(8, 'x-cache-key'), 'the script for S = 8 and the default key header');
  const h2m = hcm.httpFilters[1]!.configType;
  assert.ok(h2m.case === 'typedConfig');
  const rule = (anyUnpack(h2m.value, XDS_REGISTRY) as HeaderToMetadata).requestRules[0]!;
  assert.equal(rule.header, 'x-cache-shard');
  assert.equal(rule.onHeaderPresent?.metadataNamespace, 'envoy.lb');
  assert.equal(rule.onHeaderPresent?.key, 'cache-shard');
  assert.equal(rule.onHeaderPresent?.type, Config_ValueType.STRING);
  assert.equal(rule.remove, false);
});

test("the router's per-request extras: off by default in both route shapes, each on by its setting; proxyless gRPC's router untouched", () => {
  const policy = { shardCount: 8, replicas: 2, spread: 'none' } as const;
  const extras = (envoy: Parameters<typeof computedInput>[2], proxy: ProxyClass = ENVOY) => {
    const l = translate(computedInput(sixNodes(), policy, envoy), proxy).listener[0]!.message as Listener;
    const packed = proxy.flavor === 'envoy' ? l.filterChains[0]!.filters[0]!.configType.value : l.apiListener?.apiListener;
    const hcm = anyUnpack(packed as Any, XDS_REGISTRY) as HttpConnectionManager;
    const last = hcm.httpFilters.at(-1)!;
    assert.equal(last.name, 'envoy.filters.http.router');
    const router = anyUnpack(last.configType.value as Any, XDS_REGISTRY) as Router;
    return { generateRequestId: hcm.generateRequestId, dynamicStats: router.dynamicStats, suppressEnvoyHeaders: router.suppressEnvoyHeaders, server: hcm.serverHeaderTransformation };
  };
  const { OVERWRITE, PASS_THROUGH } = HttpConnectionManager_ServerHeaderTransformation;
  const off = { generateRequestId: false, dynamicStats: false, suppressEnvoyHeaders: true, server: PASS_THROUGH };
  assert.deepEqual(extras({}), off);
  assert.deepEqual(extras({ routeShape: 'table' }), off);
  assert.deepEqual(extras({ dynamicStats: true }), { ...off, dynamicStats: true });
  assert.deepEqual(extras({ generateRequestId: true, routeShape: 'table' }), { ...off, generateRequestId: true });
  assert.deepEqual(extras({ envoyHeaders: true }), { ...off, suppressEnvoyHeaders: false, server: OVERWRITE });
  // gRPC clients ignore these fields (gRFC A39): their router config stays empty, unset fields.
  assert.deepEqual(extras({}, { flavor: 'grpc', zone: '', subzone: '' }), { generateRequestId: undefined, dynamicStats: undefined, suppressEnvoyHeaders: false, server: OVERWRITE });
});

test('routes: a shard header first, past the Lua filter; then any = one route to the cluster, reject = digits-only route and a 400 naming the headers', () => {
  const policy = { shardCount: 8, replicas: 2, spread: 'none' as const };
  const vhost = (missingHeader: 'any' | 'reject', shardCount = 8) =>
    (translate(computedInput(sixNodes(), { ...policy, shardCount }, { missingHeader }), ENVOY).route[0]!.message as RouteConfiguration).virtualHosts[0]!;
  const luaSkipped = (r: Route): boolean => {
    const cfg = r.typedPerFilterConfig['envoy.filters.http.lua'];
    return cfg !== undefined && (anyUnpack(cfg, XDS_REGISTRY) as FilterConfig).disabled;
  };
  const toCluster = (r: Route): boolean =>
    r.action.case === 'route' && r.action.value.clusterSpecifier.case === 'cluster' && r.action.value.clusterSpecifier.value === 'keyway-cache';
  const badShard = (r: Route, s: number): boolean =>
    r.action.case === 'directResponse' &&
    r.action.value.status === 400 &&
    r.action.value.body?.specifier.case === 'inlineString' &&
    r.action.value.body.specifier.value === `x-cache-shard must be an integer in [0, ${s})\n`;

  for (const [S, regex] of [[8, '[0-9]'], [10, '[0-9]'], [11, '0|[1-9][0-9]{0,1}'], [1024, '0|[1-9][0-9]{0,3}']] as const) {
    for (const mode of ['any', 'reject'] as const) {
      const [valid, invalid] = vhost(mode, S).routes;
      assert.ok(toCluster(valid!) && luaSkipped(valid!), `${mode} S=${S}: the valid shard route skips Lua`);
      const [re, range] = valid!.match!.headers;
      assert.deepEqual(
        [re!.name, re!.headerMatchSpecifier.case === 'stringMatch' && re!.headerMatchSpecifier.value.matchPattern.case === 'safeRegex' ? re!.headerMatchSpecifier.value.matchPattern.value.regex : undefined],
        ['x-cache-shard', regex],
      );
      assert.deepEqual([range!.name, range!.headerMatchSpecifier.case === 'rangeMatch' ? [range!.headerMatchSpecifier.value.start, range!.headerMatchSpecifier.value.end] : undefined], [
        'x-cache-shard',
        [0n, BigInt(S)],
      ]);
      assert.ok(badShard(invalid!, S) && luaSkipped(invalid!), `${mode} S=${S}: any other shard header gets 400 without Lua`);
      assert.equal(invalid!.match!.headers[0]!.headerMatchSpecifier.case, 'presentMatch');
    }
  }

  const vhAny = vhost('any');
  assert.deepEqual(vhAny.domains, ['*']);
  assert.equal(vhAny.routes.length, 3);
  assert.equal(vhAny.routes[2]!.match?.headers.length, 0);
  assert.ok(toCluster(vhAny.routes[2]!) && !luaSkipped(vhAny.routes[2]!));
  assert.equal(vhAny.retryPolicy?.retryPriority?.name, 'envoy.retry_priorities.previous_priorities');

  const rej = vhost('reject').routes;
  assert.equal(rej.length, 4);
  const [third, fourth] = rej.slice(2);
  const h = third!.match!.headers[0]!;
  assert.equal(h.name, 'x-cache-shard');
  assert.ok(h.headerMatchSpecifier.case === 'stringMatch' && h.headerMatchSpecifier.value.matchPattern.case === 'safeRegex');
  assert.equal(h.headerMatchSpecifier.value.matchPattern.value.regex, '[0-9]+');
  assert.ok(toCluster(third!) && !luaSkipped(third!), 'a key-only request runs the Lua filter');
  assert.ok(fourth!.action.case === 'directResponse' && !luaSkipped(fourth!));
  assert.equal(fourth!.action.value.status, 400);
  const body = fourth!.action.value.body?.specifier;
  assert.ok(body?.case === 'inlineString');
  assert.equal(body.value, 'missing x-cache-shard and x-cache-key headers: x-cache-shard must be an integer in [0, 8), or send the key in x-cache-key\n');
});

test('the listener answers a repeated x-cache-shard (stored joined by ",") with the bad-shard 400, and only that', () => {
  const listener = translate(computedInput(sixNodes(), { shardCount: 8, replicas: 2, spread: 'none' }), ENVOY).listener[0]!.message as Listener;
  const hcm = anyUnpack(listener.filterChains[0]!.filters[0]!.configType.value as Any, XDS_REGISTRY) as HttpConnectionManager;
  const [mapper, ...rest] = hcm.localReplyConfig?.mappers ?? [];
  assert.equal(rest.length, 0);
  const f = mapper!.filter?.filterSpecifier;
  assert.ok(f?.case === 'metadataFilter');
  assert.equal(f.value.matchIfKeyNotFound, false, 'a reply without shard metadata must not be rewritten');
  assert.equal(f.value.matcher?.filter, 'envoy.lb');
  assert.deepEqual(
    f.value.matcher?.path.map((p) => p.segment.value),
    ['cache-shard'],
  );
  const v = f.value.matcher?.value?.matchPattern;
  assert.ok(v?.case === 'stringMatch' && v.value.matchPattern.case === 'contains' && v.value.matchPattern.value === ',');
  assert.equal(mapper!.statusCode, 400);
  assert.deepEqual(mapper!.body?.specifier, { case: 'inlineString', value: 'x-cache-shard must be an integer in [0, 8)\n' });
});

test('the listener changes with S and routing.keyHeader only, not with ownership', () => {
  const policy = { shardCount: 8, replicas: 2, spread: 'none' as const };
  const listenerJson = (input: TranslatorInput): string => JSON.stringify(resourceSetToJson(translate(input, ENVOY)).listener);
  const base = computedInput(sixNodes(), policy);
  assert.equal(listenerJson(computedInput(sixNodes().slice(1), policy)), listenerJson(base));
  assert.notEqual(listenerJson(computedInput(sixNodes(), { ...policy, shardCount: 9 })), listenerJson(base));
  const otherKey: TranslatorInput = { ...base, topology: { ...base.topology, xds: { ...base.topology.xds, routing: { keyHeader: 'x-key' } } } };
  assert.notEqual(listenerJson(otherKey), listenerJson(base));
  assert.ok(listenerJson(otherKey).includes('local KEY_HEADER = \\"x-key\\"'));
});

test('an IPv6 node that leads shards is not also a standby (no alias), and says so', () => {
  const nodes = [endpoint('v4', '10.0.0.1'), endpoint('v6', 'fd00::1')];
  const { resources, warnings } = translateWithWarnings(handInput(nodes, [['v4', 'v6'], ['v6', 'v4']]), ENVOY);
  const list = entries(resources);
  assert.deepEqual(
    list.map((e) => [e.id, e.priority, e.address, e.shards]),
    [
      ['v4', 0, '10.0.0.1', ['0']],
      ['v6', 0, 'fd00::1', ['1']],
      ['v4', 1, '::ffff:10.0.0.1', ['1']],
    ],
  );
  assert.equal(warnings.length, 1);
  assert.match(warnings[0]!, /v6 .*backs up 1/);
});

test('an IPv6 node that only backs up is listed at priority 1 at its own address', () => {
  const nodes = [endpoint('v4', '10.0.0.1'), endpoint('v6', 'fd00::1')];
  const { resources, warnings } = translateWithWarnings(handInput(nodes, [['v4', 'v6']]), ENVOY);
  assert.deepEqual(entries(resources).map((e) => [e.id, e.priority, e.address]), [['v4', 0, '10.0.0.1'], ['v6', 1, 'fd00::1']]);
  assert.deepEqual(warnings, []);
});

test('warnings: host-name address, owner not ready, shared address', () => {
  const nodes = [
    endpoint('a', 'cache-0.example'),
    endpoint('b', '10.0.0.2', { ready: false }),
    endpoint('c', '10.0.0.3'),
    endpoint('d', '10.0.0.3'),
  ];
  const { resources, warnings } = translateWithWarnings(handInput(nodes, [['a', 'b'], ['c', 'a'], ['d', 'c']]), ENVOY);
  assert.ok(warnings.some((w) => w.includes('cache-0.example') && w.includes('NACK')));
  assert.ok(warnings.some((w) => w.includes('owner b') && w.includes('not ready')));
  assert.ok(warnings.some((w) => w.includes('endpoint d shares address 10.0.0.3:8080 with c')));
  assert.deepEqual(checkConsistency(resources), []);
  assert.ok(!entries(resources).some((e) => e.id === 'b' || e.id === 'd'));
});

test('no ready endpoint: the cluster stays, its assignment is empty', () => {
  const nodes = [endpoint('a', '10.0.0.1', { ready: false })];
  const set = translate(computedInput(nodes, { shardCount: 4, replicas: 2, spread: 'none' }), ENVOY);
  assert.deepEqual(checkConsistency(set), []);
  assert.equal(set.cluster.length, 1);
  assert.equal((set.endpoint[0]!.message as ClusterLoadAssignment).endpoints.length, 0);
});

test('a draining owner still serves the shards it hands off (docs/ownership.md "Two-phase moves"); a plain not-ready one does not', () => {
  const nodes = [endpoint('a', '10.0.0.1', { ready: false, draining: true }), endpoint('b', '10.0.0.2'), endpoint('c', '10.0.0.3', { ready: false })];
  // The routed map keeps a as the primary of shard 0 while b warms it; c (failed) is left out.
  const { resources, warnings } = translateWithWarnings(handInput(nodes, [['a', 'b'], ['b', 'c']]), ENVOY);
  assert.deepEqual(
    entries(resources).map((e) => [e.id, e.priority]).sort(),
    [['a', 0], ['b', 0], ['b', 1]],
  );
  assert.ok(warnings.some((w) => w.includes('owner c') && w.includes('not ready')));
  assert.ok(!warnings.some((w) => w.includes('owner a')));
  const grpc = translate(handInput(nodes, [['a', 'b'], ['b', 'c']]), { flavor: 'grpc', zone: '', subzone: '' });
  assert.ok(grpc.cluster.some((c) => c.name.endsWith('/owners/a,b')), 'gRPC routes shard 0 to a, then b');
});
