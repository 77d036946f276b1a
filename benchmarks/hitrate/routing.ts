/**
 * The routing planes the hit-rate benchmark compares, each a real Envoy in front of the same cache
 * nodes:
 * - keyway (`bin/keyway.js serve` on a topology file the benchmark edits; Envoy over ADS, keyway's
 *   Lua filter hashes `x-cache-key` to a shard, subset load balancing picks the shard's primary),
 *   with warm handoff or without (`handoff: {enabled: false}`);
 * - Envoy alone, one cluster whose endpoints come from a file (EDS `path_config_source`, replaced
 *   by writing a temporary file and renaming it), with `ring_hash` or `maglev` on the key header,
 *   or round robin.
 */
import { renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { adsBootstrap } from '../../e2e/support/bootstrap.js';
import { startEnvoy, type EnvoyProcess } from '../../e2e/support/envoy.js';
import { startKeyway, type KeywayProcess } from '../../e2e/support/keyway.js';
import { eventually } from '../../test/support/eventually.js';
import type { NodeProcess, NodeSpec } from './fleet.js';

export type VariantName = 'keyway-handoff' | 'keyway-no-handoff' | 'ring-hash' | 'maglev' | 'round-robin';
export const VARIANTS: readonly VariantName[] = ['keyway-handoff', 'keyway-no-handoff', 'ring-hash', 'maglev', 'round-robin'];

/** What keyway on this branch supports, found out once by `keyway check` (see run.ts). */
export interface KeywayFeatures {
  /** The topology file takes `handoff:` and an endpoint's `draining:`. */
  readonly handoff: boolean;
  /** The cache node can take ownership from the stream (`--keyway-xds`: src/agent is there). */
  readonly agent: boolean;
}

export interface RoutingPlane {
  readonly variant: VariantName;
  /** Envoy's cache listener on 127.0.0.1. */
  readonly listenerPort: number;
  /** Ownership flags for the cache nodes (none for Envoy alone). */
  nodeArgs(): string[];
  /** A planned departure (a rolling restart); resolves once Envoy sends the node nothing. */
  depart(node: NodeProcess): Promise<{ readonly handedOff?: boolean }>;
  /** A node (restarted, or new) joins; resolves once Envoy routes to it. */
  join(spec: NodeSpec): Promise<void>;
  /** What a failed health check does: the node leaves at once. Resolves when the change is written. */
  remove(spec: NodeSpec): Promise<void>;
  /** Resolves once Envoy routes to exactly these nodes. */
  waitRouted(specs: readonly NodeSpec[], timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

export interface PlaneOptions {
  readonly variant: VariantName;
  readonly dir: string;
  readonly nodes: readonly NodeSpec[];
  readonly listenerPort: number;
  readonly shards: number;
  readonly features: KeywayFeatures;
  /** keyway's handoff.warmTimeoutMs (keyway with handoff). */
  readonly warmTimeoutMs: number;
  /** keyway's envoy.routeShape (undefined: keyway's default). */
  readonly routeShape?: 'subset' | 'table' | undefined;
}

export async function startPlane(opts: PlaneOptions): Promise<RoutingPlane> {
  return opts.variant.startsWith('keyway') ? startKeywayPlane(opts) : startEdsPlane(opts);
}

/** Hosts Envoy routes cache traffic to, by port (the keyway_xds cluster left out). */
async function routedPorts(envoy: EnvoyProcess): Promise<Set<number>> {
  const hosts = await envoy.clusters();
  return new Set(hosts.filter((h) => h.cluster !== 'keyway_xds').map((h) => h.port));
}

/** Resolves once Envoy routes cache traffic to exactly these nodes (by port). */
export async function waitRouted(envoy: EnvoyProcess, specs: readonly NodeSpec[], timeoutMs = 60_000): Promise<void> {
  const want = specs.map((s) => s.port).sort((a, b) => a - b);
  await eventually(`Envoy to route to ports ${want.join(',')}`, async () => [...(await routedPorts(envoy))].sort((a, b) => a - b), {
    accept: (got) => got.length === want.length && got.every((p, i) => p === want[i]),
    timeoutMs,
    intervalMs: 50,
  });
}

async function waitPort(envoy: EnvoyProcess, port: number, present: boolean, timeoutMs = 60_000): Promise<void> {
  await eventually(`Envoy to ${present ? 'route to' : 'stop routing to'} port ${port}`, async () => (await routedPorts(envoy)).has(port) === present, {
    timeoutMs,
    intervalMs: 50,
  });
}

type Membership = 'ready' | 'draining' | 'absent';

/** keyway serve on the topology file `file`, and one Envoy (concurrency 1) over ADS from it. */
export async function startKeywayWithEnvoy(file: string): Promise<{ keyway: KeywayProcess; envoy: EnvoyProcess }> {
  const keyway = await startKeyway({ configPath: file, httpPort: 0, xdsPort: 0 });
  try {
    return { keyway, envoy: await startEnvoy({ bootstrap: adsBootstrap({ xdsPort: keyway.xdsPort, nodeId: 'bench-envoy' }), concurrency: 1 }) };
  } catch (err) {
    await keyway.stop();
    throw err;
  }
}

async function startKeywayPlane(opts: PlaneOptions): Promise<RoutingPlane> {
  const handoff = opts.variant === 'keyway-handoff';
  const state = new Map<string, { spec: NodeSpec; status: Membership }>(opts.nodes.map((s) => [s.id, { spec: s, status: 'ready' }]));
  const file = path.join(opts.dir, 'topology.yaml');
  let writes = 0;
  const write = (): void => {
    const lines = [
      `shards: ${opts.shards}`,
      'replicas: 2', // keyway's default: a failed primary's requests are retried on the replica
      'spread: none',
      `envoy: {listenerPort: ${opts.listenerPort}, upstreamProtocol: http1${opts.routeShape ? `, routeShape: ${opts.routeShape}` : ''}}`,
      'routing: {keyHeader: x-cache-key}',
    ];
    if (opts.features.handoff) lines.push(`handoff: {enabled: ${handoff}, warmTimeoutMs: ${opts.warmTimeoutMs}}`);
    lines.push('endpoints:');
    for (const { spec, status } of [...state.values()].sort((a, b) => a.spec.id.localeCompare(b.spec.id))) {
      if (status === 'absent') continue;
      lines.push(`  - {id: ${spec.id}, address: 127.0.0.1, port: ${spec.port}, locality: {region: r, zone: z, subzone: f}, weight: 1`);
      // Without `draining` support a planned departure is a node turning not ready.
      const tail = status === 'ready' ? '}' : opts.features.handoff ? ', draining: true}' : ', ready: false}';
      lines[lines.length - 1] += tail;
    }
    const tmp = `${file}.${writes++}.tmp`;
    writeFileSync(tmp, `${lines.join('\n')}\n`);
    renameSync(tmp, file);
  };
  write();
  const { keyway, envoy } = await startKeywayWithEnvoy(file);
  const useAgent = opts.features.agent;
  return {
    variant: opts.variant,
    listenerPort: opts.listenerPort,
    nodeArgs: () => (useAgent ? ['--keyway-xds', `127.0.0.1:${keyway.xdsPort}`] : ['--keyway-url', keyway.httpUrl, '--poll-ms', '200']),
    async depart(node) {
      state.get(node.spec.id)!.status = 'draining';
      write();
      // The node's drain endpoint (what a preStop hook calls) says when keyway routes it nothing.
      const res = await fetch(`${node.url}/v1/drain?timeoutMs=${opts.warmTimeoutMs + 10_000}`, { method: 'POST' });
      const body = (await res.json()) as { handedOff?: boolean };
      // In the table shape a draining node keeps its cluster (docs/xds.md "Route shape"), so only
      // the subset shape's EDS shows the node gone; the drain's answer says keyway routes it nothing.
      if (opts.routeShape !== 'table') await waitPort(envoy, node.spec.port, false);
      return { handedOff: body.handedOff === true };
    },
    async join(spec) {
      state.set(spec.id, { spec, status: 'ready' });
      write();
      await waitPort(envoy, spec.port, true, opts.warmTimeoutMs + 30_000);
    },
    remove(spec) {
      state.get(spec.id)!.status = 'absent';
      write();
      return Promise.resolve();
    },
    waitRouted: (specs, timeoutMs) => waitRouted(envoy, specs, timeoutMs),
    async close() {
      if (process.env.KEYWAY_BENCH_VERBOSE === '1') {
        // What Envoy counted of failed requests: which cause a 503 had (no cluster, no healthy host, a reset, a retry).
        const stats = await envoy.stats().catch(() => new Map<string, number | string>());
        for (const [name, value] of stats) {
          if (typeof value === 'number' && value > 0 && /(no_cluster|none_healthy|_5xx|rq_503|retry|rq_timeout|cx_connect_fail|rq_pending_failure|upstream_rq_reset|rq_direct_response|local_rate|overflow)/.test(name)) console.log(`    envoy ${name} ${value}`);
        }
      }
      await envoy.stop();
      await keyway.stop();
    },
  };
}

export type LbPolicy = 'RING_HASH' | 'MAGLEV' | 'ROUND_ROBIN';

/**
 * The benchmarks' static listener `cache` on 127.0.0.1:`port`: an HTTP connection manager (stat
 * prefix `cache`) with the router only; `routes` gives its `route_config` or `rds`.
 */
export function cacheListener(port: number, routes: Record<string, unknown>): Record<string, unknown> {
  const hcm = {
    '@type': 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager',
    stat_prefix: 'cache',
    ...routes,
    http_filters: [{ name: 'envoy.filters.http.router', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router' } }],
  };
  return {
    name: 'cache',
    address: { socket_address: { address: '127.0.0.1', port_value: port } },
    filter_chains: [{ filters: [{ name: 'envoy.filters.network.http_connection_manager', typed_config: hcm }] }],
  };
}

/**
 * Envoy alone: a static listener, one EDS cluster fed from a file, a hash policy on the key header.
 * `cluster` adds fields to the cluster (e.g. `common_lb_config` with a hash balance factor).
 */
export function edsBootstrap(listenerPort: number, edsPath: string, lb: LbPolicy, cluster: Record<string, unknown> = {}): Record<string, unknown> {
  const route: Record<string, unknown> = { cluster: 'cache' };
  if (lb !== 'ROUND_ROBIN') route.hash_policy = [{ header: { header_name: 'x-cache-key' } }];
  return {
    node: { id: 'bench-envoy', cluster: 'bench' },
    static_resources: {
      listeners: [cacheListener(listenerPort, { route_config: { name: 'cache', virtual_hosts: [{ name: 'cache', domains: ['*'], routes: [{ match: { prefix: '/' }, route }] }] } })],
      clusters: [
        {
          name: 'cache',
          type: 'EDS',
          connect_timeout: '1s',
          lb_policy: lb,
          eds_cluster_config: { eds_config: { path_config_source: { path: edsPath }, resource_api_version: 'V3' } },
          ...cluster,
        },
      ],
    },
  };
}

async function startEdsPlane(opts: PlaneOptions): Promise<RoutingPlane> {
  const lb: LbPolicy = opts.variant === 'ring-hash' ? 'RING_HASH' : opts.variant === 'maglev' ? 'MAGLEV' : 'ROUND_ROBIN';
  const members = new Map<string, NodeSpec>(opts.nodes.map((s) => [s.id, s]));
  const edsPath = path.join(opts.dir, 'eds.json');
  let version = 0;
  const write = (): void => {
    const lbEndpoints = [...members.values()]
      .sort((a, b) => a.id.localeCompare(b.id))
      .map((s) => ({ endpoint: { address: { socket_address: { address: '127.0.0.1', port_value: s.port } }, hostname: s.id } }));
    const doc = {
      version_info: String(++version),
      resources: [{ '@type': 'type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment', cluster_name: 'cache', endpoints: [{ lb_endpoints: lbEndpoints }] }],
    };
    // Envoy watches the path for a file moved onto it: write aside, then rename.
    const tmp = `${edsPath}.${version}.tmp`;
    writeFileSync(tmp, JSON.stringify(doc));
    renameSync(tmp, edsPath);
  };
  write();
  const envoy = await startEnvoy({ bootstrap: edsBootstrap(opts.listenerPort, edsPath, lb), concurrency: 1 });
  return {
    variant: opts.variant,
    listenerPort: opts.listenerPort,
    nodeArgs: () => [],
    async depart(node) {
      members.delete(node.spec.id);
      write();
      await waitPort(envoy, node.spec.port, false);
      return {};
    },
    async join(spec) {
      members.set(spec.id, spec);
      write();
      await waitPort(envoy, spec.port, true);
    },
    remove(spec) {
      members.delete(spec.id);
      write();
      return Promise.resolve();
    },
    waitRouted: (specs, timeoutMs) => waitRouted(envoy, specs, timeoutMs),
    close: () => envoy.stop(),
  };
}
