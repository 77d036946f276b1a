/**
 * Settings that are valid but cost the data plane more than a user would guess (docs/configuration.md
 * "Warnings"): `keyway check` prints these lines and `keyway serve` logs them at start and whenever a
 * reload changes them. They depend on the file alone, so Kubernetes-fed topologies get them too.
 */
import type { KeywayConfig } from './load.js';

/**
 * From this shard count on, the default Envoy route shape stalls every Envoy worker for tens of
 * milliseconds per change (30 to 75 ms measured at S = 4096, against 10 to 20 ms at the default 1024:
 * docs/benchmarks.md "Envoy's tail while the map changes").
 */
export const SUBSET_STALL_WARN_SHARDS = 4096;

/** Envoy's default route timeout, which keyway leaves in place: it ends a request, hedges included. */
export const ENVOY_ROUTE_TIMEOUT_MS = 15_000;

/** The warnings for `config`'s settings, in a fixed order (empty when there is nothing to say). */
export function settingsWarnings(config: KeywayConfig): string[] {
  const { policy, xds } = config.topology;
  const out: string[] = [];
  if (xds.envoy.routeShape === 'subset' && policy.shardCount >= SUBSET_STALL_WARN_SHARDS) {
    out.push(
      `shards: ${policy.shardCount} with envoy.routeShape: subset: each Envoy refreshes one subset per shard and owner ` +
        'whenever a node joins, leaves or changes weight and whenever a shard changes owners (hot-shard moves and spreads included), ' +
        'stalling its requests 30 to 75 ms per change at 4096 shards and 0.1 to 0.25 s at 16384 (measured); ' +
        'envoy.routeShape: table takes the same changes in about 10 ms (docs/configuration.md "envoy.routeShape")',
    );
  }
  const perTry = xds.envoy.perTryTimeoutMs;
  if (perTry >= ENVOY_ROUTE_TIMEOUT_MS) {
    out.push(
      `envoy.perTryTimeoutMs: ${perTry} is at least Envoy's ${ENVOY_ROUTE_TIMEOUT_MS / 1000} s route timeout, which ends the request first: ` +
        'it changes nothing (docs/configuration.md "envoy.perTryTimeoutMs")',
    );
  }
  return out;
}
