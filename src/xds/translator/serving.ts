/**
 * Which endpoints the translator lists, for both flavors: the owners the shard map names, resolved
 * to their endpoint records, ready, with one endpoint per address (however spelled: socketKey). What it leaves out or cannot
 * fix is reported as a warning, never thrown: the translator always produces a usable snapshot.
 */
import { isIP } from 'node:net';
import { type Endpoint, MAX_LB_WEIGHT } from '../../core/endpoint.js';
import type { ShardMap } from '../../core/shard-map.js';
import { compareStrings } from '../../core/order.js';
import { canonicalIp as canonicalIpOf } from '../../core/ip-address.js';

export interface ServingOwners {
  /** owners[shard]: the endpoints that serve the shard, primary first; empty when none. */
  readonly owners: readonly (readonly Endpoint[])[];
  /**
   * readers[shard]: how many of `owners[shard]` share its requests at once (docs/hot-shards.md),
   * >= 1 and at most its serving owners; 1 for all but hot shards.
   */
  readers(shard: number): number;
  /** Every endpoint that serves at least one shard, sorted by id. */
  readonly endpoints: readonly Endpoint[];
  /**
   * Every endpoint that can serve (ready, or draining), one per address, sorted by id: a superset
   * of `endpoints` that also holds a draining node whose shards have all moved off it.
   */
  readonly usable: readonly Endpoint[];
  /** Conditions worth a log line: owners left out, addresses a proxy will reject. */
  readonly warnings: readonly string[];
}

/**
 * Resolves the shard map's owner ids (contract: src/core/shard-map.ts ShardMap.owners, primary
 * first). An id missing from the map's endpoints or not ready is left out, except a draining one: it
 * owns nothing in the target map, but the routed map keeps it on the shards it is handing off until
 * their new primaries are warm (docs/ownership.md "Two-phase moves"). Of two endpoints on one
 * address:port only the first by id is kept, since Envoy keeps one host per address and gRPC
 * rejects a ClusterLoadAssignment that repeats one. Host names are kept but flagged: proxies need
 * IP literals and will reject (NACK) the endpoints resource, which keyway then reports per proxy.
 */
export function servingOwners(map: ShardMap): ServingOwners {
  const warnings: string[] = [];
  const byId = new Map(map.endpoints.map((e) => [e.id, e]));
  const holderOf = new Map<string, Endpoint>(); // socketKey -> endpoint kept
  const usable = new Map<string, Endpoint>();
  for (const e of [...map.endpoints].sort((a, b) => compareStrings(a.id, b.id))) {
    if (!canServe(e)) continue;
    const where = socketKey(e);
    const holder = holderOf.get(where);
    if (holder !== undefined) {
      const spelled = addressKey(e) === addressKey(holder) ? '' : ` (${addressKey(e)} and ${addressKey(holder)} are one socket)`;
      warnings.push(`endpoint ${e.id} shares address ${addressKey(holder)} with ${holder.id}${spelled}; only ${holder.id} is listed`);
      continue;
    }
    holderOf.set(where, e);
    usable.set(e.id, e);
  }

  const missing = new Set<string>();
  const serving = new Map<string, Endpoint>();
  const owners = map.owners.map((ids) =>
    ids.flatMap((id) => {
      const e = usable.get(id);
      if (e === undefined) {
        const known = byId.get(id);
        if (!known || !canServe(known)) missing.add(id);
        return [];
      }
      serving.set(id, e);
      return [e];
    }),
  );
  for (const id of [...missing].sort(compareStrings)) {
    warnings.push(`shard map names owner ${id}, which is ${byId.has(id) ? 'not ready' : 'not among its endpoints'}; left out`);
  }
  const endpoints = [...serving.values()].sort((a, b) => compareStrings(a.id, b.id));
  for (const e of endpoints) {
    if (isIP(e.address) === 0) {
      warnings.push(`endpoint ${e.id} has address ${e.address}, not an IP literal: Envoy and gRPC clients reject it (NACK); use an IP address`);
    }
  }
  const capped = cappedWeightWarning(endpoints);
  if (capped !== undefined) warnings.push(capped);
  // A reader left out (not ready, a shared address) is not replaced: the shard has fewer readers.
  const readers = (shard: number): number => {
    const k = map.readers?.get(shard) ?? 1;
    const left = ownersCount(map.owners[shard], owners[shard], k);
    return Math.max(1, Math.min(left, owners[shard]?.length ?? 0));
  };
  return { owners, endpoints, usable: [...usable.values()], warnings, readers };
}

/**
 * The warning for weights the proxies cannot tell apart: a load_balancing_weight is capped at
 * MAX_LB_WEIGHT (weight 8589.93), so heavier endpoints share a hot shard's requests, and a dead
 * primary's, as if they weighed that, while their ownership follows the exact weights. Undefined
 * when no serving endpoint passes the cap, or all weigh the same (then the cap changes no ratio).
 */
function cappedWeightWarning(endpoints: readonly Endpoint[]): string | undefined {
  // As lbWeight scales (x 100, rounded), before its clamp.
  const over = endpoints.filter((e) => Math.round(e.weight * 100) > MAX_LB_WEIGHT);
  if (over.length === 0 || endpoints.every((e) => e.weight === endpoints[0]!.weight)) return undefined;
  const heaviest = over.reduce((a, b) => (b.weight > a.weight ? b : a));
  return (
    `${over.length} serving endpoints weigh more than ${MAX_LB_WEIGHT / 100} (the heaviest, ${heaviest.id}, ${heaviest.weight}): Envoy and gRPC clients receive a ` +
    `load_balancing_weight of at most ${MAX_LB_WEIGHT} (weight x 100), so they spread requests between a shard's owners as if those weighed ${MAX_LB_WEIGHT / 100}; ` +
    'weights are relative, so scale them all down (shard ownership follows the exact weights either way)'
  );
}

/** Of the first `k` ids, how many survived into `serving`. */
function ownersCount(ids: readonly string[] | undefined, serving: readonly Endpoint[] | undefined, k: number): number {
  if (k <= 1 || !ids || !serving) return 1;
  const kept = new Set(serving.map((e) => e.id));
  let n = 0;
  for (let i = 0; i < k && i < ids.length; i++) if (kept.has(ids[i]!)) n++;
  return n;
}

/** `ip:port`, `[ip6]:port`: the key of an endpoint's address (one endpoint per address), also the picker's endpoint name. */
export function addressKey(e: Endpoint): string {
  return isIP(e.address) === 6 ? `[${e.address}]:${e.port}` : `${e.address}:${e.port}`;
}

/**
 * The socket an endpoint names, one key however its address is spelled: IPv6 in canonical form
 * (`2001:DB8:0::1` is `2001:db8::1`, which Envoy and gRPC also take as one host), and an
 * IPv4-mapped address (`::ffff:10.0.0.1`) as its IPv4 address, the same socket. Without the fold,
 * such an endpoint's entry collides with the priority-1 alias keyway writes for the IPv4 one
 * (envoy-placement.ts), and the Envoy snapshot is rejected as inconsistent.
 */
function socketKey(e: Endpoint): string {
  const ip = canonicalIp(e.address, true);
  return isIP(ip) === 6 ? `[${ip}]:${e.port}` : `${ip}:${e.port}`;
}

/**
 * `address` in one spelling per IP address (src/core/ip-address.ts), or as given when it is not an
 * IP literal. `foldMapped`: an IPv4-mapped IPv6 address becomes its IPv4 address.
 */
export function canonicalIp(address: string, foldMapped = false): string {
  return canonicalIpOf(address, foldMapped) ?? address;
}

/** Ready, or draining: a planned departure serves the shards it still hands off. */
function canServe(e: Endpoint): boolean {
  return e.ready || e.draining === true;
}
