/**
 * The routing planes of the hot-shard benchmark (hot.ts), each a real Envoy in front of the same
 * weighted cache nodes, the membership fixed for the run:
 * - keyway static (plain weighted rendezvous, `hotShards: {enabled: false}`) and keyway with
 *   hot-shard spreading (`hotShards: {enabled: true}`, the local snapshot source fed by the nodes'
 *   load reports through the agent), Envoy over ADS as in routing.ts; `keyway-hot-work` is
 *   keyway-hot with nodes that report their work, not their requests (the example node's
 *   `--load-work`: a miss counts its service times), which differs only where misses cost more;
 * - Envoy alone with `maglev` or `ring_hash` on the key header, each with and without
 *   `hash_balance_factor` (Envoy's bounded-load consistent hashing), endpoints weighted by
 *   `load_balancing_weight` from an EDS file, placed by node id (`envoy.lb` hash_key).
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { startEnvoy } from '../../e2e/support/envoy.js';
import type { NodeSpec } from './fleet.js';
import { edsBootstrap, startKeywayWithEnvoy, waitRouted, type LbPolicy } from './routing.js';

export type HotVariant = 'keyway-static' | 'keyway-hot' | 'keyway-hot-work' | 'maglev' | 'maglev-hbf' | 'ring-hash' | 'ring-hash-hbf';
export const HOT_VARIANTS: readonly HotVariant[] = ['keyway-static', 'keyway-hot', 'keyway-hot-work', 'maglev', 'maglev-hbf', 'ring-hash', 'ring-hash-hbf'];

/** The variants that run keyway's hot-shard policy. */
export function isKeywayHot(v: HotVariant): boolean {
  return v === 'keyway-hot' || v === 'keyway-hot-work';
}

/** Envoy's hash_balance_factor for the -hbf variants: no host above 1.25x the average load. */
export const HASH_BALANCE_FACTOR = 125;

export interface WeightedNode extends NodeSpec {
  readonly weight: number;
}

export interface HotPlaneOptions {
  readonly variant: HotVariant;
  readonly dir: string;
  readonly nodes: readonly WeightedNode[];
  readonly listenerPort: number;
  readonly shards: number;
  /** keyway's hotShards.windowMs and the nodes' --load-window-ms. */
  readonly windowMs: number;
  /** Extra `hotShards:` fields for keyway-hot (YAML flow mapping entries), e.g. `maxMovesPerWindow: 16`. */
  readonly hotSettings: readonly string[];
  /** The topology file takes a `hotShards:` section (found out by `keyway check`). */
  readonly hotSection: boolean;
  /** keyway's `envoy.routeShape` (default: keyway's default, subset). */
  readonly routeShape?: 'subset' | 'table';
}

export interface HotPlane {
  readonly variant: HotVariant;
  readonly listenerPort: number;
  /** Flags for the cache nodes (keyway: the ownership stream and the load window; what the load reports count). */
  nodeArgs(): string[];
  waitRouted(timeoutMs?: number): Promise<void>;
  /** keyway's REST base URL (keyway variants). */
  readonly keywayUrl?: string;
  close(): Promise<void>;
}

export async function startHotPlane(opts: HotPlaneOptions): Promise<HotPlane> {
  return opts.variant.startsWith('keyway') ? startKeyway_(opts) : startEnvoyAlone(opts);
}

/** The topology file of a keyway variant. */
export function hotTopology(opts: HotPlaneOptions): string {
  const lines = [
    `shards: ${opts.shards}`,
    'replicas: 2',
    'spread: none',
    `envoy: {listenerPort: ${opts.listenerPort}, upstreamProtocol: http1${opts.routeShape ? `, routeShape: ${opts.routeShape}` : ''}}`,
    'routing: {keyHeader: x-cache-key}',
  ];
  if (opts.hotSection) {
    const hot = isKeywayHot(opts.variant);
    lines.push(`hotShards: {${[`enabled: ${hot}`, `windowMs: ${opts.windowMs}`, ...(hot ? opts.hotSettings : [])].join(', ')}}`);
  }
  lines.push('endpoints:');
  for (const n of opts.nodes) lines.push(`  - {id: ${n.id}, address: 127.0.0.1, port: ${n.port}, locality: {region: r, zone: z, subzone: f}, weight: ${n.weight}}`);
  return `${lines.join('\n')}\n`;
}

async function startKeyway_(opts: HotPlaneOptions): Promise<HotPlane> {
  const file = path.join(opts.dir, 'topology.yaml');
  writeFileSync(file, hotTopology(opts));
  const { keyway, envoy } = await startKeywayWithEnvoy(file);
  return {
    variant: opts.variant,
    listenerPort: opts.listenerPort,
    keywayUrl: keyway.httpUrl,
    nodeArgs: () => ['--keyway-xds', `127.0.0.1:${keyway.xdsPort}`, '--load-window-ms', String(opts.windowMs), ...(opts.variant === 'keyway-hot-work' ? ['--load-work'] : [])],
    waitRouted: (timeoutMs) => waitRouted(envoy, opts.nodes, timeoutMs),
    async close() {
      await envoy.stop();
      await keyway.stop();
    },
  };
}

async function startEnvoyAlone(opts: HotPlaneOptions): Promise<HotPlane> {
  const lb: LbPolicy = opts.variant.startsWith('maglev') ? 'MAGLEV' : 'RING_HASH';
  const edsPath = path.join(opts.dir, 'eds.json');
  // Hosts go on the ring and into the Maglev table by their `envoy.lb` hash_key (the node id), not
  // by address: the ports change from run to run, and with them Envoy's placement (the busiest
  // node's load moved from 2.5 to 4x between runs). By id, every run places the nodes the same
  // way, as keyway's rendezvous does with its fixed ids.
  const lbEndpoints = opts.nodes.map((n) => ({
    endpoint: { address: { socket_address: { address: '127.0.0.1', port_value: n.port } }, hostname: n.id },
    load_balancing_weight: n.weight,
    metadata: { filter_metadata: { 'envoy.lb': { hash_key: n.id } } },
  }));
  writeFileSync(
    edsPath,
    JSON.stringify({
      version_info: '1',
      resources: [{ '@type': 'type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment', cluster_name: 'cache', endpoints: [{ lb_endpoints: lbEndpoints }] }],
    }),
  );
  const cluster = opts.variant.endsWith('-hbf') ? { common_lb_config: { consistent_hashing_lb_config: { hash_balance_factor: HASH_BALANCE_FACTOR } } } : {};
  const envoy = await startEnvoy({ bootstrap: edsBootstrap(opts.listenerPort, edsPath, lb, cluster), concurrency: 1 });
  return {
    variant: opts.variant,
    listenerPort: opts.listenerPort,
    nodeArgs: () => [],
    waitRouted: (timeoutMs) => waitRouted(envoy, opts.nodes, timeoutMs),
    close: () => envoy.stop(),
  };
}
