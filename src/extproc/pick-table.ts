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

/** One view's answers. Immutable; shard rows are built on first use and kept. */
export interface PickTable {
  readonly version: string;
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

/** `ip:port` as the protocol and Envoy's override_host policy write it: an IPv6 literal in brackets. */
export function hostPort(address: string, port: number): string {
  return address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`;
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
    version: map.version,
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
