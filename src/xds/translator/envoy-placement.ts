/**
 * Primary before replica for Envoy: where each owner appears in the one ClusterLoadAssignment.
 * This is the single place that encodes the construction real Envoy honours
 * (docs/envoy-findings.md, 2a/2b); change it here if the findings change.
 *
 * The construction: an endpoint is listed at priority 0, at its own address, with the shards it
 * leads, and again at priority 1 with the shards it backs up. Each shard's subset then holds its
 * primary at priority 0 and its replicas at priority 1, so Envoy sends the shard's traffic to the
 * primary while it is healthy and spills to the replicas when it is not.
 *
 * A hot shard read by k owners at once (docs/hot-shards.md) lists its first k owners at priority 0,
 * so Envoy spreads its requests over them by load-balancing weight, and the rest at priority 1.
 *
 * Envoy's EDS keeps only one host per resolved "ip:port" across all priorities, so the priority-1
 * copy must use another spelling of the same socket: the IPv4-mapped IPv6 form `::ffff:a.b.c.d`
 * with ipv4_compat; an endpoint written IPv4-mapped gets its plain IPv4 spelling as the alias, the
 * same pair the other way round. IPv6 endpoints and host names have no such alias: their
 * priority-1 copy is listed only when they lead nothing (their own address is then free), else
 * their backed-up shards are left out with a warning and fail over only when ownership moves.
 */
import { isIP } from 'node:net';
import type { Endpoint } from '../../core/endpoint.js';
import { compareStrings } from '../../core/order.js';
import { canonicalIp } from './serving.js';

/** One host entry of the Envoy ClusterLoadAssignment. */
export interface EnvoyHost {
  readonly endpoint: Endpoint;
  readonly priority: 0 | 1;
  /** The address written in the ClusterLoadAssignment: the endpoint's own or its alias. */
  readonly address: string;
  /** True for the IPv4-mapped IPv6 alias (Envoy needs it to connect to the IPv4 peer). */
  readonly ipv4Compat: boolean;
  /** The shards this entry serves at this priority, ascending. */
  readonly shards: readonly number[];
  /**
   * False for the alias entry of a node that also has a priority-0 entry: one active health check
   * per node is enough, since both entries are the same socket (docs/envoy-findings.md 2g).
   */
  readonly healthChecked: boolean;
}

export interface EnvoyPlacement {
  /** Sorted by priority, then endpoint id. */
  readonly hosts: readonly EnvoyHost[];
  readonly warnings: readonly string[];
}

/**
 * Places every serving owner for the Envoy flavor (docs/xds.md, "primary before replica").
 * `owners[shard]` lists the shard's serving endpoints, primary first; `readers(shard)` says how
 * many of them share its requests at priority 0 (1: the primary alone).
 */
export function placeEnvoyHosts(owners: readonly (readonly Endpoint[])[], readers: (shard: number) => number = () => 1): EnvoyPlacement {
  const leads = new Map<string, { endpoint: Endpoint; shards: number[] }>();
  const backs = new Map<string, { endpoint: Endpoint; shards: number[] }>();
  owners.forEach((list, shard) => {
    const k = readers(shard);
    list.forEach((endpoint, rank) => {
      const into = rank < k ? leads : backs;
      const entry = into.get(endpoint.id) ?? { endpoint, shards: [] };
      entry.shards.push(shard); // shards are visited in ascending order
      into.set(endpoint.id, entry);
    });
  });

  const warnings: string[] = [];
  const hosts: EnvoyHost[] = [];
  for (const { endpoint, shards } of leads.values()) {
    hosts.push({ endpoint, priority: 0, address: endpoint.address, ipv4Compat: false, shards, healthChecked: true });
  }
  for (const { endpoint, shards } of backs.values()) {
    if (isIP(endpoint.address) === 4) {
      hosts.push({ endpoint, priority: 1, address: `::ffff:${endpoint.address}`, ipv4Compat: true, shards, healthChecked: !leads.has(endpoint.id) });
    } else if (!leads.has(endpoint.id)) {
      hosts.push({ endpoint, priority: 1, address: endpoint.address, ipv4Compat: false, shards, healthChecked: true });
    } else if (mappedIpv4(endpoint.address) !== undefined) {
      // An IPv4 peer written IPv4-mapped: its plain IPv4 spelling is the other key of the same
      // socket (no other endpoint holds it: serving.ts keeps one endpoint per socket).
      const alias = mappedIpv4(endpoint.address) as string;
      hosts.push({ endpoint, priority: 1, address: alias, ipv4Compat: false, shards, healthChecked: false });
    } else {
      warnings.push(
        `endpoint ${endpoint.id} (${endpoint.address}) leads shards and backs up ${shards.length} others; ` +
          'Envoy cannot list a non-IPv4 address twice, so it is not a standby replica for those shards',
      );
    }
  }
  hosts.sort((a, b) => a.priority - b.priority || compareStrings(a.endpoint.id, b.endpoint.id));
  return { hosts, warnings };
}

/** The IPv4 address of an IPv4-mapped IPv6 address (`::ffff:10.0.0.1`, `::ffff:a00:1`), else undefined. */
function mappedIpv4(address: string): string | undefined {
  if (isIP(address) !== 6) return undefined;
  const folded = canonicalIp(address, true);
  return isIP(folded) === 4 ? folded : undefined;
}
