// Shared builders for the translator tests: endpoints, topologies and shard maps (real ones from
// computeShardMap, or hand-made owner lists when a test needs a precise shape).
import type { Endpoint, Locality } from '../../../src/core/endpoint.js';
import type { ShardingPolicy } from '../../../src/core/policy.js';
import { DEFAULT_XDS_SETTINGS, type EnvoySettings, type Topology } from '../../../src/core/settings.js';
import { computeShardMap } from '../../../src/sharding/index.js';
import type { ShardMap } from '../../../src/core/shard-map.js';
import type { TranslatorInput } from '../../../src/xds/translator/index.js';

export function locality(zone: string, subzone: string, region = 'r'): Locality {
  return { region, zone, subzone };
}

export function endpoint(id: string, address: string, extra: Partial<Endpoint> = {}): Endpoint {
  return { id, address, port: 8080, locality: locality('', ''), weight: 1, ready: true, ...extra };
}

/** Six IPv4 nodes over three zones, two fabrics each. */
export function sixNodes(): Endpoint[] {
  return ['a', 'b', 'c'].flatMap((z, zi) =>
    [1, 2].map((n) => endpoint(`gpu-${z}${n}`, `10.0.${zi}.${n}`, { locality: locality(`z${z}`, `nvl-${z}${n}`), weight: n })),
  );
}

export function topologyOf(endpoints: readonly Endpoint[], policy: ShardingPolicy, envoy: Partial<EnvoySettings> = {}, service = 'keyway-cache'): Topology {
  return { policy, endpoints, xds: { service, envoy: { ...DEFAULT_XDS_SETTINGS.envoy, ...envoy }, routing: DEFAULT_XDS_SETTINGS.routing } };
}

/** A real shard map (hash contract 2) and its topology. */
export function computedInput(
  endpoints: readonly Endpoint[],
  policy: ShardingPolicy,
  envoy: Partial<EnvoySettings> = {},
): TranslatorInput {
  const topology = topologyOf(endpoints, policy, envoy);
  return { topology, shardMap: computeShardMap(endpoints, policy) };
}

/** A hand-made map: `owners[shard]` lists ids, primary first. */
export function handInput(endpoints: readonly Endpoint[], owners: string[][], envoy: Partial<EnvoySettings> = {}): TranslatorInput {
  const policy: ShardingPolicy = { shardCount: owners.length, replicas: Math.max(1, ...owners.map((o) => o.length)), spread: 'none' };
  const shardMap: ShardMap = {
    version: 'hand',
    policy,
    endpoints: [...endpoints].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)),
    owners,
    warnings: [],
  };
  return { shardMap, topology: topologyOf(endpoints, policy, envoy) };
}
