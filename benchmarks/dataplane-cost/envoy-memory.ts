/**
 * Envoy's memory and start-up with keyway's subset cluster against the route-table shape
 * (docs/envoy-findings.md 11): one Envoy (`--concurrency 1`) with static resources and no traffic,
 * RSS once it is ready. Two owners per shard.
 * - `subset`: one cluster, each node at priority 0 with the shards it leads and at priority 1
 *   (its `::ffff:` alias) with those it backs up, a subset selector on `cache-shard`;
 * - `table`: keyway's route-table shape at its largest, one cluster per node (the node at priority
 *   0, every other node at priority 1; keyway puts only its shards' other owners there), a matcher
 *   mapping each shard to its primary's cluster;
 * - `table-aggregate`: the route-table shape before that, one cluster per node (the node alone), an
 *   aggregate cluster for every ordered pair of nodes (the most owner lists two owners can use),
 *   a matcher mapping each shard to its pair.
 *
 *   node --import tsx benchmarks/dataplane-cost/envoy-memory.ts <nodes> <shards> subset|table|table-aggregate
 */
import { readFileSync } from 'node:fs';
import { startEnvoy } from '../../e2e/support/envoy.js';
import { freePort } from '../../e2e/support/ports.js';
import { cacheListener } from '../hitrate/routing.js';

type Json = Record<string, unknown>;

const [nodesArg, shardsArg, shape] = process.argv.slice(2);
const N = Number(nodesArg);
const S = Number(shardsArg);
if (!(N >= 2) || !(S >= 1) || (shape !== 'subset' && shape !== 'table' && shape !== 'table-aggregate')) {
  throw new Error('usage: envoy-memory.ts <nodes >= 2> <shards >= 1> subset|table|table-aggregate');
}
// Nothing listens there: no traffic is sent, the hosts only have to exist.
const hostPort = (i: number): number => 30_000 + i;
/** The shard's owners: its primary and, by the shard's number, one of the others. */
const ownersOf = (s: number): [number, number] => {
  const a = s % N;
  return [a, (a + 1 + (Math.floor(s / N) % (N - 1))) % N];
};

function subsetShape(): { clusters: Json[]; virtualHost: Json } {
  const lead: string[][] = Array.from({ length: N }, () => []);
  const back: string[][] = Array.from({ length: N }, () => []);
  for (let s = 0; s < S; s++) {
    const [a, b] = ownersOf(s);
    lead[a]!.push(String(s));
    back[b]!.push(String(s));
  }
  const entry = (address: string, i: number, shards: string[]): Json => ({
    endpoint: { address: { socket_address: { address, port_value: hostPort(i), ...(address.startsWith('::ffff:') ? { ipv4_compat: true } : {}) } } },
    metadata: { filter_metadata: { 'envoy.lb': { 'cache-shard': shards } } },
  });
  const cluster: Json = {
    name: 'keyway-cache',
    type: 'STATIC',
    connect_timeout: '1s',
    lb_subset_config: { fallback_policy: 'NO_FALLBACK', subset_selectors: [{ keys: ['cache-shard'] }], list_as_any: true },
    load_assignment: {
      cluster_name: 'keyway-cache',
      endpoints: [
        { priority: 0, lb_endpoints: lead.map((l, i) => entry('127.0.0.1', i, l)) },
        { priority: 1, lb_endpoints: back.map((l, i) => entry('::ffff:127.0.0.1', i, l)) },
      ],
    },
  };
  return { clusters: [cluster], virtualHost: { name: 'cache', domains: ['*'], routes: [{ match: { prefix: '/' }, route: { cluster: 'keyway-cache' } }] } };
}

function tableShape(aggregate: boolean): { clusters: Json[]; virtualHost: Json } {
  const clusters: Json[] = [];
  const host = (i: number): Json => ({ endpoint: { address: { socket_address: { address: '127.0.0.1', port_value: hostPort(i) } } } });
  for (let i = 0; i < N; i++) {
    const others = Array.from({ length: N }, (_, j) => j).filter((j) => j !== i);
    const endpoints = [{ lb_endpoints: [host(i)] }, ...(aggregate ? [] : [{ priority: 1, lb_endpoints: others.map(host) }])];
    clusters.push({ name: `node-${i}`, type: 'STATIC', connect_timeout: '1s', load_assignment: { cluster_name: `node-${i}`, endpoints } });
  }
  for (let a = 0; aggregate && a < N; a++) {
    for (let b = 0; b < N; b++) {
      if (a === b) continue;
      clusters.push({
        name: `owners-${a}-${b}`,
        connect_timeout: '1s',
        lb_policy: 'CLUSTER_PROVIDED',
        cluster_type: { name: 'envoy.clusters.aggregate', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.clusters.aggregate.v3.ClusterConfig', clusters: [`node-${a}`, `node-${b}`] } },
      });
    }
  }
  const map: Record<string, Json> = {};
  for (let s = 0; s < S; s++) {
    const [a, b] = ownersOf(s);
    map[String(s)] = { action: { name: `shard-${s}`, typed_config: { '@type': 'type.googleapis.com/envoy.config.route.v3.Route', match: { prefix: '/' }, route: { cluster: aggregate ? `owners-${a}-${b}` : `node-${a}` } } } };
  }
  const input = { name: 'shard', typed_config: { '@type': 'type.googleapis.com/envoy.type.matcher.v3.HttpRequestHeaderMatchInput', header_name: 'x-cache-shard' } };
  return { clusters, virtualHost: { name: 'cache', domains: ['*'], matcher: { matcher_tree: { input, exact_match_map: { map } } } } };
}

const { clusters, virtualHost } = shape === 'subset' ? subsetShape() : tableShape(shape === 'table-aggregate');
const listener = cacheListener(await freePort(), { route_config: { name: 'cache', virtual_hosts: [virtualHost] } });
const started = performance.now();
const envoy = await startEnvoy({ bootstrap: { node: { id: 'envoy-memory', cluster: 'bench' }, static_resources: { clusters, listeners: [listener] } }, readyTimeoutMs: 300_000 });
try {
  const readyS = (performance.now() - started) / 1000;
  const rssMiB = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${envoy.pid}/status`, 'utf8'))![1]) / 1024;
  process.stdout.write(`${shape} N=${N} S=${S}: ${clusters.length} clusters, ready in ${readyS.toFixed(1)} s, RSS ${rssMiB.toFixed(0)} MiB\n`);
} finally {
  await envoy.stop();
}
