/**
 * What the endpoint picker answers from, built once per serving view: each shard's owners as the
 * `ip:port` strings of the endpoint picker protocol (docs/gateways.md), primary first. A pure
 * function of the shard map, so every keyway replica holding the same map version answers every
 * request the same way (the picker runs active-active, with no leader).
 */
import type { Endpoint } from '../core/endpoint.js';
import type { ServingView } from '../core/serving.js';
import { shardReaders } from '../core/shard-map.js';
import type { MissingHeaderPolicy } from '../core/settings.js';
import { lbWeight } from '../core/endpoint.js';
import { canonicalIp } from '../core/ip-address.js';

/** One view's answers. Immutable; shard rows are built on first use and kept. */
export interface PickTable {
  readonly shardCount: number;
  /** `routing.keyHeader` (lowercase). */
  readonly keyHeader: string;
  /** `envoy.missingHeader`: a request naming no shard goes to `any` endpoint or is rejected. */
  readonly missingHeader: MissingHeaderPolicy;
  /** The owners of `shard`, primary first, as `ip:port` (IPv6 in brackets). Empty when the shard has no owner. */
  owners(shard: number): readonly string[];
  /**
   * A hot shard's readers (docs/hot-shards.md): the load-balancing weights of its first `k` owners
   * (what Envoy and the shard pickers draw by), which share its requests, in owner order; undefined
   * when the primary alone serves it (k = 1). Built on first use and kept, like the rows.
   */
  readerWeights(shard: number): readonly number[] | undefined;
  /** Every ready endpoint with weight, as `ip:port`, sorted by identity: the candidates of a request naming no shard. */
  readonly eligible: readonly string[];
}

/**
 * `ip:port` as Envoy writes a host's address (`Address::Instance::asString`): the string its
 * override_host policy looks each picked endpoint up by, and the served endpoint it reports. Another
 * spelling of the same address (`2001:DB8:0::1`) matches no host, and Envoy then routes the request
 * by its fallback policy, to any endpoint of the pool.
 */
export function hostPort(address: string, port: number): string {
  return address.includes(':') ? `[${envoyIp(address)}]:${port}` : `${address}:${port}`;
}

/**
 * An IP address as Envoy spells it (inet_ntop, measured on Envoy 1.40): IPv6 lowercase with the
 * longest run of zero groups compressed, and its last 32 bits dotted when the first 80 bits are
 * zero and the next 16 are ffff (IPv4-mapped, `::ffff:10.0.0.1`) or the first 96 are zero
 * (IPv4-compatible, `::1.2.3.4`, not `::1`). IPv4, and what is no IP literal, as given.
 */
export function envoyIp(address: string): string {
  const ip = address.includes(':') ? canonicalIp(address) : undefined;
  if (ip === undefined) return address;
  // canonicalIp writes every group in hex (`::ffff:a00:1`); these two forms take the dotted quad.
  const dotted = /^::(ffff:)?([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(ip);
  if (!dotted) return ip;
  const hi = parseInt(dotted[2]!, 16);
  const lo = parseInt(dotted[3]!, 16);
  return `::${dotted[1] ?? ''}${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`;
}

const tables = new WeakMap<ServingView, PickTable>();

/** The table of `view`, built once per view (views are immutable and replaced on every change). */
export function pickTable(view: ServingView): PickTable {
  let table = tables.get(view);
  if (!table) tables.set(view, (table = buildPickTable(view)));
  return table;
}

function buildPickTable(view: ServingView): PickTable {
  const { map, topology } = view;
  const address = new Map<string, string>();
  const weight = new Map<string, number>();
  for (const e of map.endpoints) {
    address.set(e.id, hostPort(e.address, e.port));
    weight.set(e.id, lbWeight(e.weight));
  }
  const rows: (readonly string[] | undefined)[] = new Array<readonly string[] | undefined>(map.policy.shardCount);
  // Hot shards take most requests: their weights are built once, not per request.
  const readerRows = new Map<number, readonly number[]>();
  return {
    shardCount: map.policy.shardCount,
    keyHeader: topology.xds.routing.keyHeader,
    missingHeader: topology.xds.envoy.missingHeader,
    owners(shard) {
      let row = rows[shard];
      if (!row) rows[shard] = row = (map.owners[shard] ?? []).flatMap((id) => address.get(id) ?? []);
      return row;
    },
    readerWeights(shard) {
      const k = shardReaders(map, shard);
      if (k < 2) return undefined;
      let weights = readerRows.get(shard);
      // lbWeight, as the translator writes the weights Envoy and the shard pickers spread by: at least 1, capped.
      if (!weights) readerRows.set(shard, (weights = (map.owners[shard] ?? []).slice(0, k).map((id) => weight.get(id) ?? 1)));
      return weights;
    },
    eligible: map.endpoints.filter(isEligible).map((e) => hostPort(e.address, e.port)),
  };
}

function isEligible(e: Endpoint): boolean {
  return e.ready && e.weight > 0;
}
