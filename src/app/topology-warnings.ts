/**
 * The warnings `keyway serve` logs for a topology, computed without serving it, so `keyway check`
 * prints the same lines (README "The topology file"). serve logs the settings' warnings at start and
 * when a reload changes them, the shard map's each time it computes a map (both in runner.ts), and
 * the translator's, prefixed by {@link translationWarning}, when one first appears in a proxy class it
 * builds, changes or comes back, and hourly while it stands (xds-stage.ts); all come from the
 * functions called here.
 */
import { type KeywayConfig, settingsWarnings } from '../config/index.js';
import type { ProxyFlavor } from '../xds/resources.js';
import { nextShardMap } from '../sharding/index.js';
import { translateWithWarnings } from '../xds/translator/index.js';

/** How serve's log names a translator warning; check prints it the same way. */
export function translationWarning(warning: string): string {
  return `translation: ${warning}`;
}

/** The flavors whose translation does not depend on which proxy connects (an agent's depends on its node id). */
const PROXY_FLAVORS: readonly ProxyFlavor[] = ['envoy', 'grpc'];

/**
 * Every warning serve would log for `config` at start: the settings' (a costly route shape for the
 * shard count), the shard map's (fewer eligible endpoints than replicas, a spread that cannot hold,
 * no eligible endpoint), then the translator's for Envoy and proxyless gRPC (two endpoints on one
 * address:port, owners left out), each once, in that order. A `kubernetes:` section gives only the
 * settings' warnings: its endpoints are known only once the cluster is read.
 * The cost is one full shard-map computation, as serve's first.
 */
export function topologyWarnings(config: KeywayConfig): string[] {
  const settings = settingsWarnings(config);
  if (config.kubernetes) return settings;
  const { map } = nextShardMap(undefined, config.topology.endpoints, config.topology.policy);
  const out = new Set<string>([...settings, ...map.warnings]);
  for (const flavor of PROXY_FLAVORS) {
    const t = translateWithWarnings({ shardMap: map, topology: config.topology }, { flavor, zone: '', subzone: '' });
    for (const w of t.warnings) out.add(translationWarning(w));
  }
  return [...out];
}
