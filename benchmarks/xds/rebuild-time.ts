/**
 * What a map change costs keyway's snapshot cache, translation included, on a large fleet:
 * `node --import tsx benchmarks/xds/rebuild-time.ts [--proxies agents|envoy-table|envoy-subset]
 * [--nodes 2000] [--shards 16384] [--replicas 3] [--changes 7]`.
 *
 * N endpoints, a real map (hash contract 2), and a SnapshotCache built with the translator as the
 * xDS stage wires it, watched by `agents` (one ownership agent per node: each is its own proxy
 * class, docs/ownership.md "Resources") or by one Envoy of the route-table or subset shape. Then
 * one endpoint's weight alternates between 1 and 2, `--changes` times: each change moves the shards
 * of a few nodes only. Timed: the map computation aside, the cache's rebuild of every class.
 * Median and range, in milliseconds, and how many classes changed.
 */
import { parseArgs } from 'node:util';
import type { Endpoint } from '../../src/core/endpoint.js';
import type { ShardingPolicy } from '../../src/core/policy.js';
import { DEFAULT_XDS_SETTINGS, type Topology } from '../../src/core/settings.js';
import { computeShardMap } from '../../src/sharding/index.js';
import { SnapshotCache } from '../../src/xds/cache/index.js';
import { checkConsistency, effectiveProxyClass, translate, type TranslatorInput } from '../../src/xds/translator/index.js';
import type { ProxyClass } from '../../src/xds/resources.js';
import { median } from '../hitrate/stats.js';

const { values } = parseArgs({
  options: {
    nodes: { type: 'string', default: '2000' },
    shards: { type: 'string', default: '16384' },
    replicas: { type: 'string', default: '3' },
    changes: { type: 'string', default: '7' },
    proxies: { type: 'string', default: 'agents' },
  },
});
const N = Number(values.nodes);
const policy: ShardingPolicy = { shardCount: Number(values.shards), replicas: Number(values.replicas), spread: 'none' };
const changes = Number(values.changes);

const endpoints = (weight0: number): Endpoint[] =>
  Array.from({ length: N }, (_, i) => ({
    id: `cache-${String(i).padStart(5, '0')}`,
    address: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`,
    port: 8080,
    locality: { region: 'r', zone: '', subzone: '' },
    weight: i === 0 ? weight0 : 1,
    ready: true,
  }));
const proxies = values.proxies;
if (!['agents', 'envoy-table', 'envoy-subset', 'grpc', 'grpc-picker'].includes(proxies)) throw new Error(`--proxies: agents, envoy-table, envoy-subset, grpc or grpc-picker, got ${proxies}`);
// One settings object for every view, as a topology that does not change keeps it.
const xds = { ...DEFAULT_XDS_SETTINGS, envoy: { ...DEFAULT_XDS_SETTINGS.envoy, routeShape: proxies === 'envoy-table' ? ('table' as const) : ('subset' as const) } };
const inputOf = (weight0: number): TranslatorInput => {
  const eps = endpoints(weight0);
  const topology: Topology = { policy, endpoints: eps, xds };
  return { topology, shardMap: computeShardMap(eps, policy) };
};

let input = inputOf(1);
// One class input per view, as the xDS stage keeps it (what the topology knows is worked out once).
let classInput = { of: input, input: { shardMap: input.shardMap } };
const cache = new SnapshotCache({
  build: (c) => translate(input, c),
  checkConsistency,
  servedClass: (c) => {
    if (classInput.of !== input) classInput = { of: input, input: { shardMap: input.shardMap } };
    return effectiveProxyClass(c, classInput.input);
  },
});
const classes: ProxyClass[] =
  proxies === 'agents'
    ? input.topology.endpoints.map((e) => ({ flavor: 'agent', zone: '', subzone: '', node: e.id }))
    : proxies === 'grpc'
      ? [{ flavor: 'grpc', zone: '', subzone: '' }]
      : proxies === 'grpc-picker'
        ? [{ flavor: 'grpc', zone: '', subzone: '', picker: true }]
        : [{ flavor: 'envoy', zone: '', subzone: '' }];
for (const c of classes) for (const kind of ['cluster', 'endpoint', 'listener', 'route', 'assignment'] as const) cache.watch(c, kind, () => {});

const times: number[] = [];
const changed: number[] = [];
for (let k = 1; k <= changes; k++) {
  input = inputOf(k % 2 === 1 ? 2 : 1);
  const t = performance.now();
  const report = cache.rebuild();
  times.push(performance.now() - t);
  changed.push(report.classes.filter((c) => c.changed.length > 0).length);
  if (report.classes.length !== classes.length) throw new Error(`expected ${classes.length} classes, got ${report.classes.length}`);
}
console.log('| proxies | nodes | S | R | ms per rebuild (median, min-max) | classes changed (median) |');
console.log('|---|---|---|---|---|---|');
console.log(`| ${proxies} | ${N} | ${policy.shardCount} | ${policy.replicas} | ${median(times).toFixed(1)} (${Math.min(...times).toFixed(1)}-${Math.max(...times).toFixed(1)}) | ${median(changed)} |`);
