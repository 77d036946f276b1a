/**
 * The Envoy configurations the data-plane cost benchmark compares, each run by a real Envoy with
 * `--concurrency 1` in front of the example cache nodes:
 * - `round-robin`, `ring-hash`: Envoy alone, one static cluster (ring_hash on `x-cache-key`);
 * - `keyway`: Envoy over ADS from a running keyway (what users run);
 * - `keyway-static` and its toggles: keyway's own listener, route and cluster, read from that
 *   Envoy's config dump and served statically, with one part removed or changed each, to find
 *   where keyway's extra CPU goes (TOGGLES). The static copy is checked against `keyway` in the
 *   same run: their figures should agree.
 */
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { edsBootstrap, type LbPolicy } from '../hitrate/routing.js';
import { PREVIOUS_HOSTS, RING_CLUSTER, ringAssignment, ringRetry } from './ring-failover.js';

export type Json = Record<string, unknown>;

/** keyway's resources from an Envoy config dump (`include_eds`). */
export interface KeywayResources {
  readonly listener: Json;
  readonly routeConfig: Json;
  readonly cluster: Json;
  readonly loadAssignment: Json;
  /** Set by a toggle that replaces keyway's one cluster with its own clusters. */
  clusters?: Json[];
  /** Set by a toggle that routes by scoped routes (the HCM's `scoped_routes`) instead of one route table. */
  scopedRoutes?: Json;
}

const clone = <T>(v: T): T => structuredClone(v);

/** Picks keyway's listener, route, cluster and endpoints out of `/config_dump?include_eds`. */
export function keywayResources(configs: readonly Json[]): KeywayResources {
  const of = (kind: string): Json => configs.find((c) => String(c['@type']).endsWith(`.${kind}`))!;
  const listener = (of('ListenersConfigDump').dynamic_listeners as Json[])[0]!.active_state as Json;
  const routeConfig = (of('RoutesConfigDump').dynamic_route_configs as Json[])[0]!.route_config as Json;
  const cluster = (of('ClustersConfigDump').dynamic_active_clusters as Json[]).map((c) => c.cluster as Json).find((c) => c.name !== 'keyway_xds')!;
  const loadAssignment = (of('EndpointsConfigDump').dynamic_endpoint_configs as Json[]).map((e) => e.endpoint_config as Json).find((e) => e.cluster_name === cluster.name)!;
  return { listener: listener.listener as Json, routeConfig, cluster, loadAssignment };
}

/** What each toggle changes in keyway's static copy, and what it means. */
export interface Toggle {
  readonly name: string;
  readonly what: string;
  /** The client sends `x-cache-shard` (computed by hash contract 1) instead of `x-cache-key`. */
  readonly sendShard?: boolean;
  /**
   * With `sendShard`: the shard the client names for a key's shard, from keyway's resources
   * (default the shard itself).
   */
  shardAlias?(r: KeywayResources): (shard: number) => number;
  /** With `sendShard`: the client also names the shard in the authority (`Host: s<shard>`). */
  readonly shardInHost?: boolean;
  /** The cluster whose health checks to wait for (default keyway-cache). */
  readonly healthCluster?: string;
  /** Environment for this toggle's Envoy (may build what it needs first). */
  envoyEnv?(): Record<string, string>;
  apply(r: KeywayResources): void;
}

const hcm = (r: KeywayResources): Json => ((r.listener.filter_chains as Json[])[0]!.filters as Json[])[0]!.typed_config as Json;
const filters = (r: KeywayResources): Json[] => hcm(r).http_filters as Json[];
const withoutFilter = (r: KeywayResources, name: string): void => {
  hcm(r).http_filters = filters(r).filter((f) => !String(f.name).includes(name));
};
/** No retry policy, and no hedge_policy either: the hedge only acts on the retry's per_try_timeout. */
const withoutRetry = (r: KeywayResources): void => {
  const vhost = (r.routeConfig.virtual_hosts as Json[])[0]!;
  delete vhost.retry_policy;
  delete vhost.hedge_policy;
};
const retryPolicy = (r: KeywayResources): Json => ((r.routeConfig.virtual_hosts as Json[])[0]!).retry_policy as Json;
const luaFilter = (r: KeywayResources): Json => filters(r).find((f) => String(f.name).includes('lua'))!;
const luaSource = (r: KeywayResources): Json => (luaFilter(r).typed_config as Json).default_source_code as Json;
const healthCheck = (r: KeywayResources): Json => (r.cluster.health_checks as Json[])[0]!;

/**
 * Lua hands the shard to the subset load balancer itself (dynamic metadata `envoy.lb`), so the
 * header_to_metadata filter goes: one filter fewer per request. The header stays for the node.
 */
function luaSetsMetadata(r: KeywayResources): void {
  const src = luaSource(r);
  src.inline_string = String(src.inline_string).replace(
    'headers:replace(SHARD_HEADER, tostring(key_to_shard(key)))',
    'local s = tostring(key_to_shard(key))\n  headers:replace(SHARD_HEADER, s)\n  handle:streamInfo():dynamicMetadata():set("envoy.lb", "cache-shard", s)',
  );
  withoutFilter(r, 'header_to_metadata');
}


/** Each shard's owners, primary first, as ports (every benchmark node is on 127.0.0.1). */
function ownersOf(la: Json): Map<string, number[]> {
  const owners = new Map<string, number[]>();
  const localities = [...(la.endpoints as Json[])].sort((a, b) => Number(a.priority ?? 0) - Number(b.priority ?? 0));
  for (const locality of localities) {
    for (const e of locality.lb_endpoints as Json[]) {
      const port = Number((((e.endpoint as Json).address as Json).socket_address as Json).port_value);
      const lb = ((e.metadata as Json | undefined)?.filter_metadata as Json | undefined)?.['envoy.lb'] as Json | undefined;
      if (!lb) throw new Error('this toggle reads the subset shape\'s shard metadata: run it without --route-shape table');
      const shards = (lb['cache-shard'] as string[] | undefined) ?? [];
      for (const shard of shards) owners.set(shard, [...(owners.get(shard) ?? []), port]);
    }
  }
  return owners;
}

/** route-map-node-no-lua without a retry, outlier detection, health check or backups. */
function bare(r: KeywayResources): void {
  withoutRetry(r);
  for (const c of r.clusters ?? []) {
    delete c.outlier_detection;
    delete c.health_checks;
    const la = c.load_assignment as Json;
    la.endpoints = (la.endpoints as Json[]).filter((e) => !e.priority);
  }
}

/** route-map-node-no-lua-bare applied to `r`; returns its matcher's map (shard to the action naming its route). */
function bareRouteMap(r: KeywayResources): Record<string, Json> {
  routeMap({ node: true })(r);
  withoutFilter(r, 'lua');
  bare(r);
  const vhost = (r.routeConfig.virtual_hosts as Json[])[0]!;
  return (((vhost.matcher as Json).matcher_tree as Json).exact_match_map as Json).map as Record<string, Json>;
}

/** The cluster a matcher entry's route action names. */
function routedCluster(onMatch: Json): string {
  return String((((onMatch.action as Json).typed_config as Json).route as Json).cluster);
}

/**
 * For each shard, the lowest shard with the same primary: a client naming it reaches the same node
 * through one route of the table per node (what the table's size costs, measured apart).
 */
function representativeShards(r: KeywayResources): (shard: number) => number {
  const lowest = new Map<number, number>();
  const alias = new Map<number, number>();
  for (const [shard, owners] of [...ownersOf(r.loadAssignment)].sort((a, b) => Number(a[0]) - Number(b[0]))) {
    if (!lowest.has(owners[0]!)) lowest.set(owners[0]!, Number(shard));
    alias.set(Number(shard), lowest.get(owners[0]!)!);
  }
  return (shard) => alias.get(shard) ?? shard;
}

/**
 * The route picks the owners: a matcher tree maps `x-cache-shard` to a cluster per owner list
 * (an aggregate of one cluster per node, primary first). No header_to_metadata, no subset load
 * balancer, one health check per node. `direct`: one plain cluster per owner list instead (its
 * owners at priorities 0 and 1, each checked by every list it is in), no per-node clusters.
 */
function routeMap(opts: { direct?: boolean; node?: boolean; ring?: boolean } = {}) {
  return (r: KeywayResources): void => {
    const owners = ownersOf(r.loadAssignment);
    const ports = [...new Set([...owners.values()].flat())].sort((a, b) => a - b);
    const base = r.cluster;
    const nodeCluster = (port: number): Json => ({
      name: `node-${port}`,
      type: 'STATIC',
      connect_timeout: base.connect_timeout,
      lb_policy: 'ROUND_ROBIN',
      load_assignment: { cluster_name: `node-${port}`, endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: '127.0.0.1', port_value: port } } } }] }] },
      health_checks: base.health_checks,
      outlier_detection: base.outlier_detection,
      common_lb_config: base.common_lb_config,
      ignore_health_on_host_removal: true,
    });
    // `node`: each node's cluster holds the others at priority 1, unchecked, so the failover retry
    // stays inside one cluster (no aggregate, no cluster per owner list).
    const withFallback = (port: number): Json => {
      const c = nodeCluster(port);
      const otherPorts = ports.filter((p) => p !== port);
      const others = otherPorts.map((p) => ({ endpoint: { address: { socket_address: { address: '127.0.0.1', port_value: p } }, health_check_config: { disable_active_health_check: true } } }));
      if (opts.ring) {
        const primary = ((((c.load_assignment as Json).endpoints as Json[])[0]!.lb_endpoints as Json[])[0]!);
        return { ...c, ...RING_CLUSTER, load_assignment: ringAssignment(`node-${port}`, primary, others, (i) => `node-${otherPorts[i]!}`) };
      }
      (c.load_assignment as Json).endpoints = [...((c.load_assignment as Json).endpoints as Json[]), { priority: 1, lb_endpoints: others }];
      return c;
    };
    const clusters = ports.map(opts.node ? withFallback : nodeCluster);
    const aggregates = new Map<string, Json>();
    const target = (list: number[]): string => {
      if (opts.node) return `node-${list[0]!}`;
      const name = `owners-${list.join('-')}`;
      if (opts.direct && !aggregates.has(name)) {
        // One plain cluster per owner list, its owners at priorities 0, 1: no aggregate layer.
        aggregates.set(name, {
          ...nodeCluster(list[0]!),
          name,
          load_assignment: {
            cluster_name: name,
            endpoints: list.map((port, priority) => ({ priority, lb_endpoints: [{ endpoint: { address: { socket_address: { address: '127.0.0.1', port_value: port } } } }] })),
          },
        });
      } else if (!aggregates.has(name)) {
        aggregates.set(name, {
          name,
          connect_timeout: base.connect_timeout,
          lb_policy: 'CLUSTER_PROVIDED',
          cluster_type: { name: 'envoy.clusters.aggregate', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.clusters.aggregate.v3.ClusterConfig', clusters: list.map((p) => `node-${p}`) } },
        });
      }
      return name;
    };
    const routeTo = (name: string, cluster: string): Json => ({ action: { name, typed_config: { '@type': 'type.googleapis.com/envoy.config.route.v3.Route', match: { prefix: '/' }, route: { cluster } } } });
    const map: Record<string, Json> = {};
    for (const [shard, list] of owners) map[shard] = routeTo(`shard-${shard}`, target(list));
    const vhost = (r.routeConfig.virtual_hosts as Json[])[0]!;
    delete vhost.routes;
    vhost.matcher = {
      matcher_tree: { input: { name: 'shard', typed_config: { '@type': 'type.googleapis.com/envoy.type.matcher.v3.HttpRequestHeaderMatchInput', header_name: 'x-cache-shard' } }, exact_match_map: { map } },
      on_no_match: { action: { name: 'no-shard', typed_config: { '@type': 'type.googleapis.com/envoy.config.route.v3.Route', match: { prefix: '/' }, direct_response: { status: 400 } } } },
    };
    withoutFilter(r, 'header_to_metadata');
    r.clusters = [...(opts.direct ? [] : clusters), ...aggregates.values()];
  };
}

/**
 * The route table's matcher replaced by one virtual host per shard (domain `s<shard>`, one route to
 * the cluster the matcher named), so the HCM's own virtual-host lookup by authority does the shard
 * lookup; the client names the shard in `Host` (`shardInHost`). Every other field of keyway's
 * virtual host (its retry policy) is copied to each; an unknown authority gets a 400.
 */
function perShardVirtualHosts(r: KeywayResources): void {
  const vhost = (r.routeConfig.virtual_hosts as Json[])[0]!;
  const { name: _name, domains: _domains, matcher, routes: _routes, ...rest } = vhost;
  const map = (((matcher as Json).matcher_tree as Json).exact_match_map as Json).map as Record<string, Json>;
  const perShard = Object.entries(map).map(([shard, onMatch]) => ({
    ...clone(rest),
    name: `shard-${shard}`,
    domains: [`s${shard}`],
    routes: [{ match: { prefix: '/' }, route: { cluster: routedCluster(onMatch) } }],
  }));
  r.routeConfig.virtual_hosts = [...perShard, { name: 'no-shard', domains: ['*'], routes: [{ match: { prefix: '/' }, direct_response: { status: 400 } }] }];
}

/** The shard picker dynamic module (native/envoy-shard-picker), built once per run with make. */
const PICKER_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'native', 'envoy-shard-picker');
let pickerBuilt = false;
function pickerModuleEnv(): Record<string, string> {
  const out = path.join(PICKER_DIR, 'build');
  if (!pickerBuilt) {
    execFileSync('make', ['-s', '-C', PICKER_DIR, `OUT=${out}`], { stdio: 'inherit' });
    pickerBuilt = true;
  }
  return { ENVOY_DYNAMIC_MODULES_SEARCH_PATH: out };
}

/** The picker's owners table (native/envoy-shard-picker/picker.c): S lines, primary first. */
export function ownersTable(la: Json, host = '127.0.0.1'): string {
  const owners = ownersOf(la);
  const shards = owners.size;
  const lines = [`keyway-owners-v1 ${shards}`];
  for (let s = 0; s < shards; s++) {
    const list = owners.get(String(s));
    if (!list) throw new Error(`shard ${s} has no owner in the load assignment (shards must be 0..${shards - 1})`);
    lines.push(list.map((p) => `${host}:${p}`).join(','));
  }
  return `${lines.join('\n')}\n`;
}

const PICKER_FILTER = 'keyway.shard_picker';
const moduleConfig = { name: 'keyway_shard_picker' };

/**
 * The whole pick in a dynamic module (native/envoy-shard-picker): it reads x-cache-shard or the key,
 * looks the shard's owners up in a table that comes with the virtual host's per-filter config
 * (RDS: a change does not drain the listener), and writes them into x-gateway-destination-endpoint;
 * one plain cluster with each node once routes by override_host, and keyway's retry policy walks the
 * list. No Lua, no header_to_metadata, no subset load balancer.
 */
function nativePicker(r: KeywayResources, opts: { noop?: boolean; lb?: 'override-host' | 'round-robin'; retryPriority?: boolean } = {}): void {
  const table = ownersTable(r.loadAssignment);
  const picker: Json = {
    name: PICKER_FILTER,
    typed_config: {
      '@type': 'type.googleapis.com/envoy.extensions.filters.http.dynamic_modules.v3.DynamicModuleFilter',
      dynamic_module_config: moduleConfig,
      filter_name: 'shard-picker',
      filter_config: { '@type': 'type.googleapis.com/google.protobuf.StringValue', value: `key_header=x-cache-key\n${opts.noop ? 'mode=noop\n' : ''}` },
    },
  };
  hcm(r).http_filters = filters(r).flatMap((f) => {
    const name = String(f.name);
    if (name.includes('lua')) return [picker];
    return name.includes('header_to_metadata') ? [] : [f];
  });
  const vhost = (r.routeConfig.virtual_hosts as Json[])[0]!;
  vhost.typed_per_filter_config = {
    ...((vhost.typed_per_filter_config as Json | undefined) ?? {}),
    [PICKER_FILTER]: {
      '@type': 'type.googleapis.com/envoy.extensions.filters.http.dynamic_modules.v3.DynamicModuleFilterPerRoute',
      dynamic_module_config: moduleConfig,
      per_route_config_name: 'owners',
      filter_config: { '@type': 'type.googleapis.com/google.protobuf.StringValue', value: table },
    },
  };
  const base = r.cluster;
  const ports = [...new Set([...ownersOf(r.loadAssignment).values()].flat())].sort((a, b) => a - b);
  const name = String(base.name);
  const cluster: Json = {
    name,
    type: 'STATIC',
    connect_timeout: base.connect_timeout,
    load_assignment: { cluster_name: name, endpoints: [{ lb_endpoints: ports.map((p) => ({ endpoint: { address: { socket_address: { address: '127.0.0.1', port_value: p } } } })) }] },
    health_checks: base.health_checks,
    outlier_detection: base.outlier_detection,
    common_lb_config: base.common_lb_config,
    ignore_health_on_host_removal: true,
    ...(base.typed_extension_protocol_options ? { typed_extension_protocol_options: base.typed_extension_protocol_options } : {}),
  };
  if (opts.lb !== 'round-robin') {
    const roundRobin = { typed_extension_config: { name: 'envoy.load_balancing_policies.round_robin', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.load_balancing_policies.round_robin.v3.RoundRobin' } } };
    cluster.load_balancing_policy = {
      policies: [
        {
          typed_extension_config: {
            name: 'envoy.load_balancing_policies.override_host',
            typed_config: {
              '@type': 'type.googleapis.com/envoy.extensions.load_balancing_policies.override_host.v3.OverrideHost',
              override_host_sources: [{ header: 'x-gateway-destination-endpoint' }],
              fallback_policy: { policies: [roundRobin] },
            },
          },
        },
      ],
    };
  }
  // keyway's retry_priority (previous_priorities) exists for its priority-1 replicas; here every
  // host is at priority 0 and the retry walks the header's list.
  if (opts.retryPriority === false) delete ((r.routeConfig.virtual_hosts as Json[])[0]!.retry_policy as Json | undefined)?.retry_priority;
  r.clusters = [cluster];
}

/**
 * keyway's routes before a request that carries `x-cache-shard` was routed past the Lua filter:
 * the routes that disable it go, so the filter runs for every request and checks the header itself.
 */
function luaOnEveryRequest(r: KeywayResources): void {
  const vhost = (r.routeConfig.virtual_hosts as Json[])[0]!;
  vhost.routes = (vhost.routes as Json[]).filter((route) => (route.typed_per_filter_config as Json | undefined)?.['envoy.filters.http.lua'] === undefined);
}

/**
 * One cluster per shard, named by the shard number, its owners at priorities 0 and 1; the route
 * for a canonical `x-cache-shard` picks the cluster by `cluster_header`, so the lookup is Envoy's
 * cluster map, not header_to_metadata plus the subset load balancer. No active health check (it
 * would run per cluster: S x owners checks): outlier detection and the retry stay. keyway's own
 * cluster stays for key-only requests.
 */
function clusterPerShard(r: KeywayResources): void {
  const base = r.cluster;
  const clusters: Json[] = [];
  for (const [shard, list] of [...ownersOf(r.loadAssignment)].sort((a, b) => Number(a[0]) - Number(b[0]))) {
    clusters.push({
      name: shard,
      type: 'STATIC',
      connect_timeout: base.connect_timeout,
      lb_policy: 'ROUND_ROBIN',
      load_assignment: {
        cluster_name: shard,
        endpoints: list.map((port, priority) => ({ priority, lb_endpoints: [{ endpoint: { address: { socket_address: { address: '127.0.0.1', port_value: port } } } }] })),
      },
      outlier_detection: base.outlier_detection,
      common_lb_config: base.common_lb_config,
      ...(base.typed_extension_protocol_options ? { typed_extension_protocol_options: base.typed_extension_protocol_options } : {}),
    });
  }
  const vhost = (r.routeConfig.virtual_hosts as Json[])[0]!;
  const shardRoute = (vhost.routes as Json[]).find((route) => (route.route as Json | undefined)?.cluster !== undefined && (route.typed_per_filter_config as Json | undefined) !== undefined)!;
  const action = shardRoute.route as Json;
  delete action.cluster;
  action.cluster_header = 'x-cache-shard';
  r.clusters = [staticCluster(r), ...clusters];
}

export const TOGGLES: readonly Toggle[] = [
  { name: 'static', what: "keyway's listener, route and cluster as served over ADS, unchanged", apply: () => {} },
  {
    name: 'static-shard',
    what: "keyway's config unchanged, the client sends x-cache-shard (its route leaves the Lua filter out of the request's chain)",
    sendShard: true,
    apply: () => {},
  },
  {
    name: 'lua-every-request-shard',
    what: 'the routes before the shard-header routes (the Lua filter runs for every request and checks the header); the client sends x-cache-shard',
    sendShard: true,
    apply: luaOnEveryRequest,
  },
  { name: 'no-lua', what: 'no Lua filter: the client sends x-cache-shard', sendShard: true, apply: (r) => withoutFilter(r, 'lua') },
  { name: 'lua-metadata', what: 'Lua sets the subset metadata itself; no header_to_metadata filter', apply: luaSetsMetadata },
  { name: 'no-hc', what: 'no active health check', apply: (r) => delete r.cluster.health_checks },
  { name: 'no-retry', what: 'no retry policy on the virtual host', apply: withoutRetry },
  { name: 'no-outlier', what: 'no outlier detection', apply: (r) => delete r.cluster.outlier_detection },
  {
    name: 'no-alias',
    what: 'no priority-1 ::ffff: alias hosts (replicas): only primaries',
    apply: (r) => {
      r.loadAssignment.endpoints = (r.loadAssignment.endpoints as Json[]).filter((e) => (e.priority ?? 0) === 0);
    },
  },
  {
    name: 'hc-every-entry',
    what: 'the former health checking: every entry checked (the ::ffff: alias too), every 0.5 s with traffic',
    apply: (r) => {
      Object.assign(healthCheck(r), { interval: '0.5s' });
      delete healthCheck(r).unhealthy_interval;
      for (const locality of r.loadAssignment.endpoints as Json[]) {
        for (const e of locality.lb_endpoints as Json[]) delete (e.endpoint as Json).health_check_config;
      }
    },
  },
  {
    name: 'single-host',
    what: 'single_host_per_subset on the cache-shard selector',
    apply: (r) => {
      const sel = ((r.cluster.lb_subset_config as Json).subset_selectors as Json[])[0]!;
      sel.single_host_per_subset = true;
    },
  },
  {
    name: 'bare-no-lua',
    what: 'no Lua (the client sends x-cache-shard), no retry policy, no outlier detection, no health check: the subset load balancer alone',
    sendShard: true,
    apply: (r) => {
      withoutFilter(r, 'lua');
      withoutRetry(r);
      delete r.cluster.outlier_detection;
      delete r.cluster.health_checks;
    },
  },
  {
    name: 'no-lua-no-retry',
    what: 'no Lua (the client sends x-cache-shard), no retry policy',
    sendShard: true,
    apply: (r) => {
      withoutFilter(r, 'lua');
      withoutRetry(r);
    },
  },
  {
    name: 'lua-empty',
    what: 'the Lua filter with an empty envoy_on_request, run for every request (the filter alone); the client sends x-cache-shard',
    sendShard: true,
    apply: (r) => {
      luaOnEveryRequest(r);
      luaSource(r).inline_string = 'function envoy_on_request(handle) end\n';
    },
  },
  {
    name: 'native-picker',
    what: 'a C dynamic module computes the shard and writes its owners (table from the virtual host per-filter config) into x-gateway-destination-endpoint; one override_host cluster, each node once; keyway retry policy',
    envoyEnv: pickerModuleEnv,
    apply: (r) => nativePicker(r),
  },
  {
    name: 'native-picker-no-retry-priority',
    what: "native-picker, the retry policy without keyway's previous_priorities retry_priority (every host is at priority 0)",
    envoyEnv: pickerModuleEnv,
    apply: (r) => nativePicker(r, { retryPriority: false }),
  },
  {
    name: 'native-picker-no-retry',
    what: 'native-picker without a retry policy',
    envoyEnv: pickerModuleEnv,
    apply: (r) => {
      nativePicker(r);
      withoutRetry(r);
    },
  },
  {
    name: 'native-picker-shard',
    what: 'native-picker, the client sends x-cache-shard (no hash, one header write fewer)',
    sendShard: true,
    envoyEnv: pickerModuleEnv,
    apply: (r) => nativePicker(r),
  },
  {
    name: 'native-picker-plus-noop',
    what: 'native-picker with a second module filter that does nothing (mode=noop) before it: the cost of one dynamic-module filter, L1 unchanged',
    envoyEnv: pickerModuleEnv,
    apply: (r) => {
      nativePicker(r);
      const picker = filters(r).find((f) => f.name === PICKER_FILTER)!;
      const noop = structuredClone(picker);
      noop.name = `${PICKER_FILTER}.noop`;
      ((noop.typed_config as Json).filter_config as Json).value = 'mode=noop\n';
      hcm(r).http_filters = [noop, ...filters(r)];
    },
  },
  {
    name: 'native-picker-rr',
    what: 'native-picker with a round-robin cluster (the header is written, nobody reads it): cost of override_host; L1 not comparable',
    envoyEnv: pickerModuleEnv,
    apply: (r) => nativePicker(r, { lb: 'round-robin' }),
  },
  {
    name: 'native-picker-noop-rr',
    what: 'the module loaded but doing nothing, round-robin cluster: the cost of a dynamic-module filter alone; L1 not comparable',
    envoyEnv: pickerModuleEnv,
    apply: (r) => nativePicker(r, { noop: true, lb: 'round-robin' }),
  },
  {
    name: 'cluster-per-shard',
    what: 'one cluster per shard (owners at priorities 0, 1; no active health check), chosen by cluster_header x-cache-shard; the client sends x-cache-shard',
    sendShard: true,
    healthCluster: '',
    apply: clusterPerShard,
  },
  {
    name: 'cluster-per-shard-no-retry',
    what: 'cluster-per-shard without a retry policy',
    sendShard: true,
    healthCluster: '',
    apply: (r) => {
      clusterPerShard(r);
      withoutRetry(r);
    },
  },
  {
    name: 'route-map-direct-no-lua',
    what: 'the route maps x-cache-shard to a plain cluster per owner list (owners at priorities 0, 1; no aggregate); the client sends x-cache-shard',
    sendShard: true,
    healthCluster: 'owners-',
    apply: (r) => {
      routeMap({ direct: true })(r);
      withoutFilter(r, 'lua');
    },
  },
  ...(
    [
      ['', "the route maps x-cache-shard to the primary's own cluster (the other nodes at priority 1, unchecked: the retry fails over inside it); no aggregate; the client sends x-cache-shard", () => {}],
      ['-no-retry', 'route-map-node-no-lua without a retry policy', withoutRetry],
      [
        '-no-retry-no-outlier',
        'route-map-node-no-lua without a retry policy and without outlier detection (health check and backups kept)',
        (r) => {
          withoutRetry(r);
          for (const c of r.clusters ?? []) delete c.outlier_detection;
        },
      ],
      ['-bare', 'the route table and one cluster per node alone: no retry, outlier detection, health check or priority-1 backups (the floor of this shape)', bare],
      [
        '-bare-one-route-per-node',
        "route-map-node-no-lua-bare, the client naming for each shard the lowest shard of the same primary: the same nodes, but only one of the table's routes per node is ever matched",
        bare,
        { representative: true },
      ],
      ['-ring-retry', 'route-map-node-no-lua failing over by a ring walk: RING_HASH node clusters with a catcher point, a previous_hosts retry, no previous_priorities (ring-failover.ts)', (r) => ringRetry(retryPolicy(r)), { ring: true }],
      ['-plain-retry', 'route-map-node-no-lua, the retry policy without its previous_priorities retry_priority (no failover: the cost of the plugin)', (r) => delete retryPolicy(r).retry_priority],
      ['-connect-retry', 'route-map-node-no-lua, retrying on connect-failure only (not reset, refused-stream)', (r) => (retryPolicy(r).retry_on = 'connect-failure')],
      [
        '-eject-retry',
        'route-map-node-no-lua, the retry without previous_priorities, and outlier detection ejecting a host on its first local-origin failure (so the retry finds priority 0 empty: eject-failover-check.ts)',
        (r) => {
          delete retryPolicy(r).retry_priority;
          for (const c of r.clusters ?? []) c.outlier_detection = { ...(c.outlier_detection as Json), split_external_local_origin_errors: true, consecutive_local_origin_failure: 1 };
        },
      ],
    ] as [string, string, (r: KeywayResources) => unknown, { ring?: boolean; representative?: boolean }?][]
  ).map(([suffix, what, change, shape]): Toggle => ({
    name: `route-map-node-no-lua${suffix}`,
    what,
    sendShard: true,
    ...(shape?.representative ? { shardAlias: representativeShards } : {}),
    healthCluster: 'node-',
    apply: (r) => {
      routeMap({ node: true, ring: shape?.ring === true })(r);
      withoutFilter(r, 'lua');
      change(r);
    },
  })),
  {
    name: 'scoped-node-no-lua-bare',
    what: "route-map-node-no-lua-bare's targets through scoped routes instead of the matcher: the HCM keys a scope on x-cache-shard, each scope's route table one route to the primary's cluster",
    sendShard: true,
    healthCluster: 'node-',
    apply: (r) => {
      const scopes = Object.entries(bareRouteMap(r)).map(([shard, onMatch]) => {
        const cluster = routedCluster(onMatch);
        return {
          name: `shard-${shard}`,
          key: { fragments: [{ string_key: shard }] },
          route_configuration: { name: `to-${cluster}`, virtual_hosts: [{ name: 'shard', domains: ['*'], routes: [{ match: { prefix: '/' }, route: { cluster } }] }] },
        };
      });
      r.scopedRoutes = {
        name: 'shards',
        scope_key_builder: { fragments: [{ header_value_extractor: { name: 'x-cache-shard', index: 0 } }] },
        rds_config_source: { path_config_source: { path: '/dev/null' }, resource_api_version: 'V3' },
        scoped_route_configurations_list: { scoped_route_configurations: scopes },
      };
    },
  },
  {
    name: 'vhost-node-no-lua',
    what: "route-map-node-no-lua with one virtual host per shard instead of the matcher: the client names the shard in Host (s<shard>), the HCM's virtual-host lookup finds the primary's cluster",
    sendShard: true,
    shardInHost: true,
    healthCluster: 'node-',
    apply: (r) => {
      routeMap({ node: true })(r);
      withoutFilter(r, 'lua');
      perShardVirtualHosts(r);
    },
  },
  {
    name: 'vhost-node-no-lua-bare',
    what: 'route-map-node-no-lua-bare with one virtual host per shard instead of the matcher (the client names the shard in Host)',
    sendShard: true,
    shardInHost: true,
    healthCluster: 'node-',
    apply: (r) => {
      bareRouteMap(r);
      perShardVirtualHosts(r);
    },
  },
  {
    name: 'cluster-matcher-node-no-lua-bare',
    what: "route-map-node-no-lua-bare's targets picked by the matcher cluster specifier plugin of one route (a matcher that names the cluster) instead of a matcher of routes",
    sendShard: true,
    healthCluster: 'node-',
    apply: (r) => {
      const map = bareRouteMap(r);
      const clusters: Record<string, Json> = {};
      for (const [shard, onMatch] of Object.entries(map)) {
        const cluster = routedCluster(onMatch);
        clusters[shard] = { action: { name: 'cluster', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.router.cluster_specifiers.matcher.v3.ClusterAction', cluster } } };
      }
      const vhost = (r.routeConfig.virtual_hosts as Json[])[0]!;
      delete vhost.matcher;
      vhost.routes = [
        {
          match: { prefix: '/' },
          route: {
            inline_cluster_specifier_plugin: {
              extension: {
                name: 'envoy.router.cluster_specifier_plugin.matcher',
                typed_config: {
                  '@type': 'type.googleapis.com/envoy.extensions.router.cluster_specifiers.matcher.v3.MatcherClusterSpecifier',
                  cluster_matcher: {
                    matcher_tree: { input: { name: 'shard', typed_config: { '@type': 'type.googleapis.com/envoy.type.matcher.v3.HttpRequestHeaderMatchInput', header_name: 'x-cache-shard' } }, exact_match_map: { map: clusters } },
                  },
                },
              },
            },
          },
        },
      ];
    },
  },
  {
    name: 'route-map-ring-cluster-no-lua',
    what: "route-map-node-no-lua-bare's matcher, every shard's route to one ring_hash cluster of all nodes hashing x-cache-shard: the matcher's cost apart from the clusters per node",
    sendShard: true,
    healthCluster: 'ring-all',
    apply: (r) => {
      const map = bareRouteMap(r);
      const addresses = (r.clusters ?? []).map((c) => ((((c.load_assignment as Json).endpoints as Json[])[0]!.lb_endpoints as Json[])[0]!.endpoint as Json).address);
      const name = 'ring-all';
      r.clusters = [
        {
          name,
          type: 'STATIC',
          connect_timeout: r.cluster.connect_timeout,
          lb_policy: 'RING_HASH',
          load_assignment: { cluster_name: name, endpoints: [{ lb_endpoints: addresses.map((address) => ({ endpoint: { address } })) }] },
        },
      ];
      for (const onMatch of Object.values(map)) {
        ((onMatch.action as Json).typed_config as Json).route = { cluster: name, hash_policy: [{ header: { header_name: 'x-cache-shard' } }] };
      }
    },
  },
  {
    name: 'route-map-no-lua-no-retry',
    what: 'route-map-no-lua without a retry policy',
    sendShard: true,
    healthCluster: 'node-',
    apply: (r) => {
      routeMap()(r);
      withoutFilter(r, 'lua');
      withoutRetry(r);
    },
  },
  {
    name: 'static-shard-range-only',
    what: "keyway's config with the shard route matching by range_match alone (no safe_regex canonical check); the client sends x-cache-shard",
    sendShard: true,
    apply: (r) => {
      for (const route of (r.routeConfig.virtual_hosts as Json[])[0]!.routes as Json[]) {
        const headers = (route.match as Json).headers as Json[] | undefined;
        if (headers) (route.match as Json).headers = headers.filter((h) => h.safe_regex_match === undefined && (h.string_match as Json | undefined)?.safe_regex === undefined);
      }
    },
  },
  {
    name: 'route-map-lua-clear',
    what: 'route-map, the client sends the key: the Lua filter sets x-cache-shard and clears the route cache, so the matcher runs again with it',
    healthCluster: 'node-',
    apply: (r) => {
      routeMap()(r);
      const src = luaSource(r);
      const before = String(src.inline_string);
      src.inline_string = before.replace('headers:replace(SHARD_HEADER, tostring(key_to_shard(key)))', 'headers:replace(SHARD_HEADER, tostring(key_to_shard(key)))\n  handle:clearRouteCache()');
      if (src.inline_string === before) throw new Error("route-map-lua-clear: the Lua script's header write was not found");
    },
  },
  { name: 'route-map', what: 'the route maps x-cache-shard to an aggregate cluster per owner list (no subset LB, no header_to_metadata)', healthCluster: 'node-', apply: routeMap() },
  {
    name: 'route-map-no-lua',
    what: 'route-map, the client sends x-cache-shard (no Lua)',
    sendShard: true,
    healthCluster: 'node-',
    apply: (r) => {
      routeMap()(r);
      withoutFilter(r, 'lua');
    },
  },
];

/** Envoy's own health state is not config: EDS `health_status` from the dump is dropped. */
function staticAssignment(la: Json): Json {
  const out = clone(la);
  for (const locality of out.endpoints as Json[]) {
    // The dump prints an unset wrapper as `{}`, which reads back as weight 0.
    if (!(locality.load_balancing_weight as Json | undefined)?.value) delete locality.load_balancing_weight;
    for (const e of locality.lb_endpoints as Json[]) delete e.health_status;
  }
  return out;
}

/** keyway's cluster served statically: its endpoints inline instead of by EDS, without the dump's Any type. */
function staticCluster(r: KeywayResources): Json {
  const cluster: Json = { ...r.cluster, type: 'STATIC', load_assignment: r.loadAssignment };
  delete cluster.eds_cluster_config;
  delete cluster['@type'];
  return cluster;
}

/** A bootstrap serving keyway's resources statically on 127.0.0.1:`port`, after `toggle`. */
export function keywayStaticBootstrap(resources: KeywayResources, toggle: Toggle, port: number): Json {
  const r: KeywayResources = { listener: clone(resources.listener), routeConfig: clone(resources.routeConfig), cluster: clone(resources.cluster), loadAssignment: staticAssignment(resources.loadAssignment) };
  toggle.apply(r);
  const manager = hcm(r);
  delete manager.rds;
  if (r.scopedRoutes) manager.scoped_routes = r.scopedRoutes;
  else manager.route_config = r.routeConfig;
  r.listener.address = { socket_address: { address: '127.0.0.1', port_value: port } };
  // The dump's resources carry their Any type; a bootstrap's fields do not.
  for (const resource of [r.listener, r.routeConfig, r.loadAssignment]) delete resource['@type'];
  return { node: { id: 'bench-envoy', cluster: 'bench' }, static_resources: { listeners: [r.listener], clusters: r.clusters ?? [staticCluster(r)] } };
}

/**
 * ring_hash with the failover keyway's routes have (docs/envoy-findings.md 2c, 2i): keyway's health
 * check and outlier detection on the cluster, and a retry on a failed connection (or, hedged, a
 * try past keyway's per-try timeout) that picks another host on the ring (`previous_hosts`), so the
 * baseline gives the same guarantee.
 */
export function ringHashFailoverBootstrap(ports: readonly number[], port: number, dir: string, keyway: KeywayResources): Json {
  const bootstrap = plainBootstrap('RING_HASH', ports, port, dir);
  const statics = bootstrap.static_resources as Json;
  const cluster = (statics.clusters as Json[])[0]!;
  cluster.health_checks = keyway.cluster.health_checks;
  cluster.outlier_detection = keyway.cluster.outlier_detection;
  cluster.circuit_breakers = keyway.cluster.circuit_breakers;
  const hcmConfig = (((statics.listeners as Json[])[0]!.filter_chains as Json[])[0]!.filters as Json[])[0]!.typed_config as Json;
  const route = ((((hcmConfig.route_config as Json).virtual_hosts as Json[])[0]!.routes as Json[])[0]!.route as Json);
  const keywayHost = (keyway.routeConfig.virtual_hosts as Json[])[0]!;
  const keywayRetry = (keywayHost.retry_policy as Json) ?? {};
  route.retry_policy = {
    retry_on: keywayRetry.retry_on ?? 'connect-failure,refused-stream,reset',
    num_retries: keywayRetry.num_retries ?? 2,
    // keyway's per-try timeout and hedge (docs/envoy-findings.md 2i), when it has them.
    ...(keywayRetry.per_try_timeout !== undefined ? { per_try_timeout: keywayRetry.per_try_timeout } : {}),
    retry_host_predicate: [PREVIOUS_HOSTS],
    host_selection_retry_max_attempts: 3,
  };
  if (keywayHost.hedge_policy !== undefined) ((hcmConfig.route_config as Json).virtual_hosts as Json[])[0]!.hedge_policy = keywayHost.hedge_policy;
  return bootstrap;
}

/**
 * `bootstrap` with what keyway's listener leaves out by default (docs/configuration.md
 * `envoy.dynamicStats`, `envoy.generateRequestId`, `envoy.envoyHeaders`): no router dynamic stats,
 * no generated x-request-id, no x-envoy-* or `server: envoy` headers. ring_hash so configured is the
 * fair baseline for keyway's routing alone.
 */
export function withoutRequestExtras(bootstrap: Json): Json {
  const manager = (((((bootstrap.static_resources as Json).listeners as Json[])[0]!.filter_chains as Json[])[0]!.filters as Json[])[0]!.typed_config as Json);
  manager.generate_request_id = false;
  manager.server_header_transformation = 'PASS_THROUGH';
  const router = (manager.http_filters as Json[]).find((f) => f.name === 'envoy.filters.http.router')!.typed_config as Json;
  router.dynamic_stats = false;
  router.suppress_envoy_headers = true;
  return bootstrap;
}

/**
 * Envoy alone (the hit-rate benchmark's plane): one cluster of `ports` from an EDS file written
 * into `dir`, ring_hash on the key header or round robin.
 */
export function plainBootstrap(lb: Extract<LbPolicy, 'ROUND_ROBIN' | 'RING_HASH'>, ports: readonly number[], port: number, dir: string): Json {
  const edsPath = path.join(dir, `eds-${lb.toLowerCase()}-${port}.json`);
  const lbEndpoints = ports.map((p) => ({ endpoint: { address: { socket_address: { address: '127.0.0.1', port_value: p } } } }));
  const doc = { version_info: '1', resources: [{ '@type': 'type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment', cluster_name: 'cache', endpoints: [{ lb_endpoints: lbEndpoints }] }] };
  writeFileSync(edsPath, JSON.stringify(doc));
  return edsBootstrap(port, edsPath, lb);
}
