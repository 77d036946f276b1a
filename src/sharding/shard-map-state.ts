/**
 * Per-map bookkeeping that makes the incremental update (applyEndpointChange) exact and cheap:
 * each owner slot's score, the pass that chose it and its locality, plus the eligible columns.
 * Kept beside the public, plain ShardMap in a WeakMap, so the map itself stays a plain value.
 */
import type { Endpoint } from '../core/endpoint.js';
import type { ShardingPolicy } from '../core/policy.js';
import type { EligibleSet } from './eligible-set.js';
import { OwnerSelector } from './owner-selection.js';
import { type ShardSteps, uShard } from './rendezvous-score.js';
import type { ShardMap } from '../core/shard-map.js';

export interface ShardMapState {
  readonly steps: ShardSteps;
  readonly eligible: EligibleSet;
  /** Canonical encodings of map.endpoints (same order), for the version. */
  readonly canonical: readonly string[];
  /** Slot shard * R + j describes owners[shard][j]. */
  readonly ownerScore: Float64Array;
  readonly ownerPass: Uint8Array;
  readonly ownerZone: Int32Array;
  readonly ownerFabric: Int32Array;
  readonly ownerHandle: Int32Array;
}

const states = new WeakMap<ShardMap, ShardMapState>();

/** The bookkeeping of a map computed in this process, or undefined (e.g. a map parsed from JSON). */
export function stateOf(map: ShardMap): ShardMapState | undefined {
  return states.get(map);
}

/**
 * Entries in the intern table of `map`'s lineage (ids, zones, fabrics), or undefined for a map
 * without bookkeeping. For tests: it shows that the table stays bounded across rollouts.
 */
export function internTableSize(map: ShardMap): number | undefined {
  return states.get(map)?.eligible.interned.size;
}

/** Attaches bookkeeping to a freshly built map; returns the map. */
export function remember(map: ShardMap, state: ShardMapState): ShardMap {
  states.set(map, state);
  return map;
}

/** Mutable output of an owner computation, turned into ShardMap.owners and state columns. */
export interface OwnerColumns {
  owners: (readonly string[])[];
  ownerScore: Float64Array;
  ownerPass: Uint8Array;
  ownerZone: Int32Array;
  ownerFabric: Int32Array;
  ownerHandle: Int32Array;
}

/** Computes shards' owners into `cols` with one reused selector and score buffer. */
export class ShardComputer {
  private readonly selector: OwnerSelector;
  private readonly scores: Float64Array;
  private readonly u: Float64Array;

  constructor(
    readonly policy: ShardingPolicy,
    readonly steps: ShardSteps,
    readonly eligible: EligibleSet,
  ) {
    this.selector = new OwnerSelector(policy.replicas, policy.spread);
    this.scores = new Float64Array(Math.max(eligible.n, 1));
    this.u = new Float64Array(Math.max(eligible.n, 1));
  }

  /** Recomputes shard `s` from every eligible endpoint: O(n) hashes, and logs only near the top. */
  compute(s: number, cols: OwnerColumns): void {
    const set = this.eligible;
    const scores = this.scores;
    uShard(set.kHi, set.kLo, set.n, this.steps.hi[s] as number, this.steps.lo[s] as number, this.u);
    const sel = this.selector;
    const count = sel.selectFromU(set, this.u, scores);
    const R = this.policy.replicas;
    const owners = new Array<string>(count);
    const base = s * R;
    for (let j = 0; j < count; j++) {
      const i = sel.outIdx[j] as number;
      owners[j] = set.ids[i] as string;
      cols.ownerScore[base + j] = scores[i] as number;
      cols.ownerPass[base + j] = sel.outPass[j] as number;
      cols.ownerZone[base + j] = set.zone[i] as number;
      cols.ownerFabric[base + j] = set.fabric[i] as number;
      cols.ownerHandle[base + j] = set.handle[i] as number;
    }
    cols.owners[s] = owners;
  }
}

/** The conditions worth a warning: fewer eligible endpoints than R, none at all, a spread that cannot hold. */
export function warningsFor(
  policy: ShardingPolicy,
  total: number,
  eligible: number,
  counts: { zones: number; fabrics: number },
): string[] {
  const R = policy.replicas;
  if (eligible === 0) {
    return [`no eligible endpoints (ready, weight > 0) among ${total}: every shard has no owners`];
  }
  const out: string[] = [];
  if (eligible < R) out.push(`only ${eligible} eligible endpoints for ${R} replicas: each shard has ${eligible} owners`);
  const owners = Math.min(R, eligible);
  if (policy.spread === 'subzone' && counts.fabrics < owners) {
    out.push(`spread subzone: only ${counts.fabrics} fabrics among eligible endpoints for ${owners} owners per shard: some owners share a fabric`);
  }
  if (policy.spread === 'zone' && counts.zones < owners) {
    out.push(`spread zone: only ${counts.zones} zones among eligible endpoints for ${owners} owners per shard: some owners share a zone`);
    if (counts.fabrics < owners) {
      out.push(`spread zone: only ${counts.fabrics} fabrics among eligible endpoints for ${owners} owners per shard: some owners share a fabric`);
    }
  }
  return out;
}

/** Canonical encoding of one endpoint for the version (docs/hashing.md "Shard map version"). */
export function canonicalEndpoint(e: Endpoint): string {
  const fields: unknown[] = [e.id, e.address, e.port, e.locality.region, e.locality.zone, e.locality.subzone, e.weight, e.ready];
  // Only a draining endpoint carries the ninth field, so every other map keeps its version.
  if (e.draining === true) fields.push('draining');
  return JSON.stringify(fields);
}
