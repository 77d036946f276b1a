/**
 * What a map change costs the requests in flight through Envoy (docs/benchmarks.md "Envoy's tail
 * while the map changes"): `node --import tsx benchmarks/dataplane-cost/churn-tail.ts [--rounds N]
 * [--shards 1024,16384] [--rate R] [--seconds S] [--churn weight|member|shards|spread] [--subset] [--only <regex of variant names>]`
 * (`shards` and `spread` change the subset planes only).
 *
 * Per variant and round, one real Envoy (`--concurrency 1`) in front of plain cache nodes
 * (e2e/support/cache-nodes.ts: they answer at once, own nothing, warm nothing), an open-loop client
 * at `rate` requests per second with keys `item:<n>` in `x-cache-key`: `seconds` quiet, then
 * `seconds` with one change per second, taken back the next second: node-0's weight 10 -> 11
 * (`--churn weight`), or a ninth node joining (`--churn member`). Latency counts from each request's
 * due time, so a stall delays every request behind it (no coordinated omission).
 * - keyway (S = each of `--shards`): `keyway serve` on a topology file, Envoy over ADS; handoff
 *   and hot shards off, so each change is one EDS update and nothing happens on the nodes; and
 *   `keyway table`, the same with `envoy.routeShape: table` (each change an RDS update);
 * - ring_hash and maglev: Envoy alone, the same hosts and weights in an EDS file (as the hit-rate
 *   benchmark's planes);
 * - with `--subset`: keyway's cluster shape from an EDS file, with and without
 *   `single_host_per_subset` (subsetPlane: an experiment on what the subset rebuild costs), and
 *   the route-map shape (routeMapPlane: a route table and aggregate clusters, no subset load
 *   balancer; the client sends the shard).
 * Variants alternate order between rounds. Writes benchmarks/results/churn-tail-<churn>.json.
 */
import http from 'node:http';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import { adsBootstrap } from '../../e2e/support/bootstrap.js';
import type { CacheNodes } from '../../e2e/support/cache-nodes.js';
import { startEnvoy, type EnvoyProcess } from '../../e2e/support/envoy.js';
import { startKeyway, type KeywayProcess } from '../../e2e/support/keyway.js';
import { freePort } from '../../e2e/support/ports.js';
import { eventually } from '../../test/support/eventually.js';
import { cacheListener, edsBootstrap, type LbPolicy } from '../hitrate/routing.js';
import { median } from '../hitrate/stats.js';
import { alternateRounds, cell, drive, fmt, KEYS, NODE_COUNT, type Phase, SERVICE, waitHealthy, writeAtomic } from './open-loop.js';

/**
 * What changes once a second: node-0's weight (10 and 11), or a ninth node joins and leaves; or
 * (the subset planes only) shards move to node-1 with no weight or host changing, or shards gain
 * their replica as a second reader at priority 0 (a hot-shard spread).
 */
type ChurnKind = 'weight' | 'member' | 'shards' | 'spread';
const CHANGES: Record<ChurnKind, string> = {
  weight: "node-0's weight 10 <-> 11",
  member: 'a ninth node joins and leaves',
  shards: 'every 80th shard to node-1 and back, nothing else',
  spread: "every 80th shard read by its replica too (at priority 0 beside its primary) and back, as a hot-shard spread, nothing else",
};

interface Row {
  readonly variant: string;
  readonly round: number;
  readonly quiet: Phase;
  readonly churn: Phase;
  /** EDS updates Envoy applied during the churn phase. */
  readonly updates: number;
}

/** One Envoy in front of the nodes, with a way to apply the change (on) or take it back (off). */
interface Plane {
  readonly envoy: EnvoyProcess;
  readonly port: number;
  /** The cluster whose `update_success` counts EDS updates. */
  readonly cluster: string;
  /** The stat that counts the plane's updates instead (the route-map plane's RDS updates). */
  readonly updateStat?: string;
  /** Set when the client sends `x-cache-shard` (hash contract 1 over this many shards), not only the key. */
  readonly shardCount?: number;
  setChurn(on: boolean): void;
  close(): Promise<void>;
}

/**
 * The node every 80th shard's primary moves to while the churn is on: the ninth node for a member
 * churn, node-0 for a weight churn (its own shards: only the weight changes), node-1 for a shard
 * churn. Every 80th shard's primary is node-0 (80 is a multiple of 8), so moving them to node-0
 * changes nothing: until 2026-12-05 `--churn shards` did that and measured an EDS update that
 * changed no shard list.
 */
function churnedNode(kind: ChurnKind): number {
  return kind === 'member' ? NODE_COUNT : kind === 'shards' ? 1 : 0;
}

/** The nodes in the plane and their weights: the first eight, and the ninth while a member churn is on. */
function members(nodes: CacheNodes, kind: ChurnKind, on: boolean): { id: string; port: number; weight: number }[] {
  const count = kind === 'member' && on ? NODE_COUNT + 1 : NODE_COUNT;
  return nodes.nodes.slice(0, count).map((n, i) => ({ id: n.id, port: n.port, weight: kind === 'weight' && on && i === 0 ? 11 : 10 }));
}

async function keywayPlane(nodes: CacheNodes, kind: ChurnKind, dir: string, shards: number, shape: 'subset' | 'table' = 'subset'): Promise<Plane> {
  const port = await freePort();
  const topology = path.join(dir, 'topology.yaml');
  let writes = 0;
  const write = (on: boolean): void => {
    const lines = [
      `shards: ${shards}`,
      'replicas: 2',
      `service: ${SERVICE}`,
      `envoy: {listenerPort: ${port}, missingHeader: any, routeShape: ${shape}}`,
      'routing: {keyHeader: x-cache-key}',
      'handoff: {enabled: false}',
      'hotShards: {enabled: false}',
      'endpoints:',
      ...members(nodes, kind, on).map((n) => `  - {id: ${n.id}, address: 127.0.0.1, port: ${n.port}, weight: ${n.weight}}`),
    ];
    writeAtomic(topology, `${lines.join('\n')}\n`, writes++);
  };
  write(false);
  let keyway: KeywayProcess | undefined;
  try {
    keyway = await startKeyway({ configPath: topology, readyTimeoutMs: 60_000 });
    const envoy = await startEnvoy({ bootstrap: adsBootstrap({ xdsPort: keyway.xdsPort, nodeId: 'envoy-churn-tail' }) });
    const k = keyway;
    if (shape === 'table') {
      await eventually(`${NODE_COUNT} node clusters`, () => envoy.clusters(), { accept: (h) => h.filter((x) => x.cluster.startsWith(`${SERVICE}/node/`)).length >= NODE_COUNT, timeoutMs: 30_000 });
      return { envoy, port, cluster: SERVICE, updateStat: `http.${SERVICE}.rds.${SERVICE}.update_success`, setChurn: write, close: async () => (await envoy.stop(), await k.stop()) };
    }
    await waitHealthy(envoy, SERVICE, NODE_COUNT);
    return { envoy, port, cluster: SERVICE, setChurn: write, close: async () => (await envoy.stop(), await k.stop()) };
  } catch (err) {
    await keyway?.stop();
    throw err;
  }
}

async function edsPlane(nodes: CacheNodes, kind: ChurnKind, dir: string, lb: LbPolicy): Promise<Plane> {
  const port = await freePort();
  const edsPath = path.join(dir, 'eds.json');
  let version = 0;
  const write = (on: boolean): void => {
    const lbEndpoints = members(nodes, kind, on).map((n) => ({
      endpoint: { address: { socket_address: { address: '127.0.0.1', port_value: n.port } }, hostname: n.id },
      load_balancing_weight: n.weight,
      metadata: { filter_metadata: { 'envoy.lb': { hash_key: n.id } } },
    }));
    const doc = {
      version_info: String(++version),
      resources: [{ '@type': 'type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment', cluster_name: 'cache', endpoints: [{ lb_endpoints: lbEndpoints }] }],
    };
    writeAtomic(edsPath, JSON.stringify(doc), version);
  };
  write(false);
  const envoy = await startEnvoy({ bootstrap: edsBootstrap(port, edsPath, lb) });
  await waitHealthy(envoy, 'cache', NODE_COUNT);
  return { envoy, port, cluster: 'cache', setChurn: write, close: () => envoy.stop() };
}

/**
 * Envoy alone with keyway's cluster shape from an EDS file: a subset load balancer on
 * `cache-shard` (list_as_any), each node at priority 0 with the shards it leads and at priority 1
 * (its `::ffff:` alias) with the shards it backs up; S shards, primary `s mod 8`, replica the next
 * node. The change moves every 80th shard's primary to the churned node ({@link churnedNode}) and
 * back, as keyway's would move about 1/80 of them, or (`spread`) lists its replica at priority 0
 * too. `singleHost` sets
 * `single_host_per_subset` on the selector: what the subset rebuild costs without a load balancer
 * per subset (an experiment: with it Envoy uses one host per shard whatever its priority, so the
 * replica entries would need another construction).
 */
async function subsetPlane(nodes: CacheNodes, kind: ChurnKind, dir: string, shards: number, singleHost: boolean): Promise<Plane> {
  const port = await freePort();
  const edsPath = path.join(dir, 'eds.json');
  let version = 0;
  const write = (on: boolean): void => {
    const hosts = members(nodes, kind, on);
    const n = hosts.length;
    const churned = churnedNode(kind);
    const primary = (sh: number): number => (on && kind !== 'spread' && sh % 80 === 0 ? churned : sh % NODE_COUNT);
    // A spread lists the replica at priority 0 beside the primary (src/xds/translator/envoy-placement.ts).
    const spread = (sh: number): boolean => on && kind === 'spread' && sh % 80 === 0;
    const lead: string[][] = hosts.map(() => []);
    const back: string[][] = hosts.map(() => []);
    for (let sh = 0; sh < shards; sh++) {
      const p = primary(sh);
      lead[p]!.push(String(sh));
      (spread(sh) ? lead : back)[(p + 1) % n]!.push(String(sh));
    }
    const entry = (address: string, i: number, list: string[]) => ({
      endpoint: { address: { socket_address: { address, port_value: hosts[i]!.port } }, hostname: hosts[i]!.id },
      metadata: { filter_metadata: { 'envoy.lb': { 'cache-shard': list } } },
      load_balancing_weight: hosts[i]!.weight,
    });
    const doc = {
      version_info: String(++version),
      resources: [
        {
          '@type': 'type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment',
          cluster_name: 'cache',
          endpoints: [
            { priority: 0, lb_endpoints: hosts.map((_, i) => entry('127.0.0.1', i, lead[i]!)) },
            { priority: 1, lb_endpoints: hosts.map((_, i) => entry('::ffff:127.0.0.1', i, back[i]!)) },
          ],
        },
      ],
    };
    writeAtomic(edsPath, JSON.stringify(doc), version);
  };
  write(false);
  const selector: Record<string, unknown> = { keys: ['cache-shard'], fallback_policy: 'NO_FALLBACK', ...(singleHost ? { single_host_per_subset: true } : {}) };
  const envoy = await startEnvoy({
    bootstrap: edsBootstrap(port, edsPath, 'ROUND_ROBIN', { lb_subset_config: { fallback_policy: 'ANY_ENDPOINT', subset_selectors: [selector], list_as_any: true } }),
  });
  await waitHealthy(envoy, 'cache', NODE_COUNT);
  return { envoy, port, cluster: 'cache', setChurn: write, close: () => envoy.stop() };
}

/**
 * The route-map shape (docs/benchmarks.md, "Route shapes"): no subset load balancer; one cluster
 * per node, one aggregate cluster per owner list (primary, replica), and a route table whose matcher
 * maps `x-cache-shard` to the owner list's cluster. Clusters come by CDS and the route table by RDS,
 * both from files; the placement is subsetPlane's. A change rewrites the route table (and, when a
 * node joins or leaves, the clusters: before the routes on a join, after them on a leave). The
 * client sends `x-cache-shard`. No health check, as the other file-fed planes.
 */
async function routeMapPlane(nodes: CacheNodes, kind: ChurnKind, dir: string, shards: number): Promise<Plane> {
  const port = await freePort();
  const cdsPath = path.join(dir, 'cds.json');
  const rdsPath = path.join(dir, 'rds.json');
  let version = 0;
  const pending: NodeJS.Timeout[] = [];
  const writeClusters = (on: boolean): void => {
    const hosts = members(nodes, kind, on);
    const n = hosts.length;
    const node = (i: number) => ({
      '@type': 'type.googleapis.com/envoy.config.cluster.v3.Cluster',
      name: `node-${i}`,
      type: 'STATIC',
      connect_timeout: '1s',
      load_assignment: { cluster_name: `node-${i}`, endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: '127.0.0.1', port_value: hosts[i]!.port } } } }] }] },
    });
    const aggregate = (a: number, b: number) => ({
      '@type': 'type.googleapis.com/envoy.config.cluster.v3.Cluster',
      name: `owners-${a}-${b}`,
      connect_timeout: '1s',
      lb_policy: 'CLUSTER_PROVIDED',
      cluster_type: { name: 'envoy.clusters.aggregate', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.clusters.aggregate.v3.ClusterConfig', clusters: [`node-${a}`, `node-${b}`] } },
    });
    // The owner lists of both placements while the node is in: the routes move from one to the
    // other 200 ms after the clusters change, and a route naming a missing cluster answers 503.
    const pairs = new Set<string>();
    for (const size of new Set([NODE_COUNT, n])) for (let p = 0; p < size; p++) pairs.add(`${p}-${(p + 1) % size}`);
    // The churned node's shards: its pair with the next node.
    const churned = churnedNode(kind);
    pairs.add(`${churned}-${(churned + 1) % n}`);
    const resources = [...hosts.keys()].map(node);
    for (const pair of [...pairs].sort()) {
      const [a, b] = pair.split('-').map(Number) as [number, number];
      resources.push(aggregate(a, b) as never);
    }
    writeAtomic(cdsPath, JSON.stringify({ version_info: String(++version), resources }), version);
  };
  const writeRoutes = (on: boolean): void => {
    const n = members(nodes, kind, on).length;
    const churned = churnedNode(kind);
    const map: Record<string, unknown> = {};
    for (let sh = 0; sh < shards; sh++) {
      const p = on && sh % 80 === 0 ? churned : sh % NODE_COUNT;
      const cluster = `owners-${p}-${(p + 1) % n}`;
      map[String(sh)] = { action: { name: `shard-${sh}`, typed_config: { '@type': 'type.googleapis.com/envoy.config.route.v3.Route', match: { prefix: '/' }, route: { cluster } } } };
    }
    const routeConfig = {
      '@type': 'type.googleapis.com/envoy.config.route.v3.RouteConfiguration',
      name: 'cache',
      virtual_hosts: [
        {
          name: 'cache',
          domains: ['*'],
          matcher: {
            matcher_tree: { input: { name: 'shard', typed_config: { '@type': 'type.googleapis.com/envoy.type.matcher.v3.HttpRequestHeaderMatchInput', header_name: 'x-cache-shard' } }, exact_match_map: { map } },
            on_no_match: { action: { name: 'no-shard', typed_config: { '@type': 'type.googleapis.com/envoy.config.route.v3.Route', match: { prefix: '/' }, direct_response: { status: 400 } } } },
          },
        },
      ],
    };
    writeAtomic(rdsPath, JSON.stringify({ version_info: String(++version), resources: [routeConfig] }), version);
  };
  const write = (on: boolean): void => {
    if (kind !== 'member') return writeRoutes(on);
    // A joining node's clusters before the routes that name them; a leaving node's after.
    if (on) {
      writeClusters(true);
      pending.push(setTimeout(() => writeRoutes(true), 200));
    } else {
      writeRoutes(false);
      pending.push(setTimeout(() => writeClusters(false), 200));
    }
  };
  writeClusters(false);
  writeRoutes(false);
  const pathSource = (file: string) => ({ path_config_source: { path: file }, resource_api_version: 'V3' });
  const envoy = await startEnvoy({
    bootstrap: {
      node: { id: 'bench-envoy', cluster: 'bench' },
      dynamic_resources: { cds_config: pathSource(cdsPath) },
      static_resources: {
        listeners: [cacheListener(port, { rds: { route_config_name: 'cache', config_source: pathSource(rdsPath) } })],
      },
    },
  });
  await eventually('the route table and every node cluster', () => envoy.clusters(), { accept: (h) => h.filter((x) => x.cluster.startsWith('node-')).length >= NODE_COUNT, timeoutMs: 30_000 });
  return {
    envoy,
    port,
    cluster: 'node-0',
    updateStat: 'http.cache.rds.cache.update_success',
    shardCount: shards,
    setChurn: write,
    close: async () => {
      for (const t of pending) clearTimeout(t);
      await envoy.stop();
    },
  };
}

async function updates(plane: Plane): Promise<number> {
  return (await plane.envoy.statValue(plane.updateStat ?? `cluster.${plane.cluster}.update_success`)) ?? 0;
}

async function measure(plane: Plane, rate: number, seconds: number): Promise<Omit<Row, 'variant' | 'round'>> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
  try {
    await drive({ port: plane.port, rate, seconds: 2, agent, firstKey: 1, keys: KEYS, shardCount: plane.shardCount }); // warm-up: connections and Envoy's first requests
    const quiet = await drive({ port: plane.port, rate, seconds, agent, firstKey: 2, keys: KEYS, shardCount: plane.shardCount });
    const before = await updates(plane);
    let on = false;
    const flips = setInterval(() => plane.setChurn((on = !on)), 1000);
    let churn: Phase;
    try {
      churn = await drive({ port: plane.port, rate, seconds, agent, firstKey: 3, keys: KEYS, shardCount: plane.shardCount });
    } finally {
      clearInterval(flips);
    }
    await sleep(500);
    return { quiet, churn, updates: (await updates(plane)) - before };
  } finally {
    agent.destroy();
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { rounds: { type: 'string' }, shards: { type: 'string' }, rate: { type: 'string' }, seconds: { type: 'string' }, subset: { type: 'boolean' }, churn: { type: 'string' }, only: { type: 'string' } } });
  const rounds = Number(values.rounds ?? 3);
  const rate = Number(values.rate ?? 500);
  const seconds = Number(values.seconds ?? 10);
  const shardCounts = (values.shards ?? '1024,16384').split(',').map(Number);
  const kinds: readonly string[] = ['weight', 'member', 'shards', 'spread'];
  if (values.churn !== undefined && !kinds.includes(values.churn)) throw new Error(`--churn must be one of ${kinds.join(', ')}, got ${values.churn}`);
  const kind = (values.churn ?? 'weight') as ChurnKind;
  if ((kind === 'shards' || kind === 'spread') && !values.subset) throw new Error(`--churn ${kind} changes only the subset planes: add --subset`);
  const keywayAndEnvoy = [
    ...shardCounts.map((s) => ({ name: `keyway S=${s}`, start: (n: CacheNodes, d: string) => keywayPlane(n, kind, d, s) })),
    ...shardCounts.map((s) => ({ name: `keyway table S=${s}`, start: (n: CacheNodes, d: string) => keywayPlane(n, kind, d, s, 'table') })),
    { name: 'ring_hash', start: (n: CacheNodes, d: string) => edsPlane(n, kind, d, 'RING_HASH') },
    { name: 'maglev', start: (n: CacheNodes, d: string) => edsPlane(n, kind, d, 'MAGLEV') },
  ];
  const subsets = shardCounts.flatMap((s) => [
    { name: `subset S=${s}`, start: (n: CacheNodes, d: string) => subsetPlane(n, kind, d, s, false) },
    { name: `subset 1-host S=${s}`, start: (n: CacheNodes, d: string) => subsetPlane(n, kind, d, s, true) },
    // The route-map plane has no spread form: its routes name one owner list per shard.
    ...(kind === 'spread' ? [] : [{ name: `route-map S=${s}`, start: (n: CacheNodes, d: string) => routeMapPlane(n, kind, d, s) }]),
  ]);
  const only = values.only === undefined ? undefined : new RegExp(values.only);
  const variants = [...(kind === 'shards' || kind === 'spread' ? [] : keywayAndEnvoy), ...(values.subset ? subsets : [])].filter((v) => only === undefined || only.test(v.name));
  if (variants.length === 0) throw new Error(`--only ${values.only} matches no variant`);
  const rows: Row[] = await alternateRounds(
    rounds,
    variants,
    async (nodes, v, dir) => {
      const plane = await v.start(nodes, dir);
      try {
        return await measure(plane, rate, seconds);
      } finally {
        await plane.close();
      }
    },
    (v, _round, r) =>
      `${v.name.padEnd(16)} quiet p99 ${fmt(r.quiet.p99)} ms, churn p99 ${fmt(r.churn.p99)} max ${fmt(r.churn.max)} ms, ${r.updates} EDS updates, errors ${r.quiet.errors + r.churn.errors}${r.churn.errors > 0 ? ` ${JSON.stringify(r.churn.errorsBy)}` : ''}`,
  );
  const lines = [
    `Open loop at ${rate} req/s, ${seconds} s quiet then ${seconds} s with a change per second (${CHANGES[kind]}); medians (min-max) over ${rounds} rounds.`,
    '',
    '| variant | p50 quiet ms | p99 quiet ms | p99 churn ms | max churn ms | p99 churn / quiet | EDS updates in churn | errors |',
    '|---|---|---|---|---|---|---|---|',
  ];
    for (const v of variants) {
    const rs = rows.filter((r) => r.variant === v.name);
    lines.push(
      `| ${v.name} | ${cell(rs.map((r) => r.quiet.p50))} | ${cell(rs.map((r) => r.quiet.p99))} | ${cell(rs.map((r) => r.churn.p99))} | ${cell(rs.map((r) => r.churn.max))} | ${cell(rs.map((r) => r.churn.p99 / r.quiet.p99))} | ${median(rs.map((r) => r.updates))} | ${rs.reduce((a, r) => a + r.quiet.errors + r.churn.errors, 0)} |`,
    );
  }
  process.stdout.write(`\n${lines.join('\n')}\n`);
  const out = path.join('benchmarks', 'results', `churn-tail-${kind}.json`);
  writeFileSync(out, `${JSON.stringify({ churn: kind, rate, seconds, rounds, rows }, null, 1)}\n`);
  process.stdout.write(`wrote ${out}\n`);
}

await main();
