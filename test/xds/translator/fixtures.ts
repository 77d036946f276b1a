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

/**
 * A seeded sequence of one-field changes to nodes (weight, address, port, zone among `zones`,
 * readiness), for tests that compare what a translator kept from the previous map with a fresh
 * translation. `next(nodes)` changes one field of one node and says which kind of change it made.
 */
export function nodeChanges(seed: number, zones: readonly string[]): { next(nodes: Endpoint[]): { nodes: Endpoint[]; kind: number }; readonly kinds: number } {
  const rand = (n: number): number => {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    return (seed >>> 16) % n; // the high bits: an LCG's low bits repeat with a short period
  };
  const changes: ((e: Endpoint) => Endpoint)[] = [
    (e) => ({ ...e, weight: 1 + rand(4) }),
    (e) => ({ ...e, address: `10.1.0.${1 + rand(200)}` }),
    (e) => ({ ...e, port: 8000 + rand(3) }),
    (e) => ({ ...e, locality: { ...e.locality, zone: zones[rand(zones.length)]! } }),
    (e) => ({ ...e, ready: rand(4) !== 0 }),
  ];
  return {
    kinds: changes.length,
    next(nodes) {
      const i = rand(nodes.length);
      const kind = rand(changes.length);
      return { nodes: nodes.map((e, j) => (j === i ? changes[kind]!(e) : e)), kind };
    },
  };
}
