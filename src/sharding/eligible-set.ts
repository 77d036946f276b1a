/**
 * The endpoints that can own shards (ready, weight > 0), in columns for the rendezvous hot loop
 * (hash contract 2). Sorted by id, so an index comparison is the contract's id tie-break.
 */
import type { Endpoint } from '../core/endpoint.js';
import { endpointKey } from './rendezvous-score.js';

export interface EligibleSet {
  readonly n: number;
  /** Sorted in byte order (ids are ASCII, so JS string order is byte order). */
  readonly ids: readonly string[];
  readonly kHi: Uint32Array;
  readonly kLo: Uint32Array;
  readonly weight: Float64Array;
  /** Interned (region, zone): a zone is named within its region. */
  readonly zone: Int32Array;
  /** Interned (region, zone, subzone): a fabric (NVLink domain) never spans zones. */
  readonly fabric: Int32Array;
  /** Interned id: a stable integer per endpoint id, so owner slots compare without strings. */
  readonly handle: Int32Array;
  /** The table `zone`, `fabric` and `handle` were interned in; shared along one incremental lineage. */
  readonly interned: InternTable;
}

/** An endpoint owns shards only when it is ready and has a positive weight. */
export function isEligible(e: Endpoint): boolean {
  return e.ready && e.weight > 0;
}

/**
 * Small integers for localities and endpoint ids, so the hot loops compare numbers, not strings.
 * A table belongs to the maps of one lineage: a full computation starts a new one, and each
 * incremental update shares its predecessor's (the stored owner columns hold its integers). It is
 * dropped with the last map using it; applyEndpointChange starts afresh (a full computation) when
 * the table has grown well beyond the live endpoints, so pod names of past rollouts do not pile up.
 */
export class InternTable {
  readonly #zones = new Map<string, number>();
  readonly #fabrics = new Map<string, number>();
  readonly #handles = new Map<string, number>();

  /** The spread policy's zone of an endpoint, as a small integer (contract 2: zone = (region, zone)). */
  zoneOf(e: Endpoint): number {
    return intern(this.#zones, JSON.stringify([e.locality.region, e.locality.zone]));
  }

  /** The spread policy's fabric of an endpoint, as a small integer (contract 2: (region, zone, subzone)). */
  fabricOf(e: Endpoint): number {
    return intern(this.#fabrics, JSON.stringify([e.locality.region, e.locality.zone, e.locality.subzone]));
  }

  /** A stable small integer for an endpoint id, for the incremental update's owner slots. */
  handleOf(id: string): number {
    return intern(this.#handles, id);
  }

  /** Upper bound (exclusive) of every zone or fabric id handed out so far. */
  get localityBound(): number {
    return Math.max(this.#zones.size, this.#fabrics.size);
  }

  /** Entries held (ids, zones and fabrics): what bounds the table's growth; also read by tests. */
  get size(): number {
    return this.#handles.size + this.#zones.size + this.#fabrics.size;
  }
}

/**
 * Whether `table` has outgrown a map of `liveEndpoints` endpoints: each endpoint needs at most an
 * id, a zone and a fabric, and the slack lets many changes pass between two fresh starts.
 */
export function internTableOutgrown(table: InternTable, liveEndpoints: number): boolean {
  return table.size > 4 * liveEndpoints + 64;
}

function intern(table: Map<string, number>, key: string): number {
  let id = table.get(key);
  if (id === undefined) {
    id = table.size;
    table.set(key, id);
  }
  return id;
}

/** One eligible endpoint's column values. */
export interface EligibleEntry {
  readonly id: string;
  readonly kHi: number;
  readonly kLo: number;
  readonly weight: number;
  readonly zone: number;
  readonly fabric: number;
  readonly handle: number;
}

/** Column values of one eligible endpoint, its key k(id) computed once (contract 2). */
export function eligibleEntry(e: Endpoint, table: InternTable): EligibleEntry {
  const k = endpointKey(e.id);
  return { id: e.id, kHi: k.hi, kLo: k.lo, weight: e.weight, zone: table.zoneOf(e), fabric: table.fabricOf(e), handle: table.handleOf(e.id) };
}

/** Builds the set from endpoints already sorted by id, interning in a new table. */
export function buildEligibleSet(sorted: readonly Endpoint[]): EligibleSet {
  const chosen = sorted.filter(isEligible);
  const n = chosen.length;
  const interned = new InternTable();
  const set = {
    n,
    ids: chosen.map((e) => e.id),
    kHi: new Uint32Array(n),
    kLo: new Uint32Array(n),
    weight: new Float64Array(n),
    zone: new Int32Array(n),
    fabric: new Int32Array(n),
    handle: new Int32Array(n),
    interned,
  };
  chosen.forEach((e, i) => {
    const entry = eligibleEntry(e, interned);
    set.kHi[i] = entry.kHi;
    set.kLo[i] = entry.kLo;
    set.weight[i] = entry.weight;
    set.zone[i] = entry.zone;
    set.fabric[i] = entry.fabric;
    set.handle[i] = entry.handle;
  });
  return set;
}

/** Index of `id` in ids (or endpoints) sorted by id, or -(insertion point) - 1 when absent. */
export function findSorted(sorted: readonly (string | { readonly id: string })[], id: string): number {
  let lo = 0;
  let hi = sorted.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1;
    const item = sorted[mid] as string | { readonly id: string };
    const v = typeof item === 'string' ? item : item.id;
    if (v < id) lo = mid + 1;
    else if (v > id) hi = mid - 1;
    else return mid;
  }
  return -lo - 1;
}

/**
 * The set with `id` removed and, if `entry` is given, (re)inserted: O(n) copies, reusing every
 * other endpoint's precomputed key. `entry` must come from the set's own table (`set.interned`).
 */
export function replaceInEligibleSet(set: EligibleSet, id: string, entry: EligibleEntry | null): EligibleSet {
  const found = findSorted(set.ids, id);
  const at = found >= 0 ? found : -found - 1;
  const cut = found >= 0 ? 1 : 0;
  const add = entry ? 1 : 0;
  const n = set.n - cut + add;
  const ids = set.ids.slice();
  if (entry) ids.splice(at, cut, entry.id);
  else ids.splice(at, cut);
  const splice = <T extends Uint32Array | Float64Array | Int32Array>(col: T, make: (len: number) => T, v: number): T => {
    const out = make(n);
    out.set(col.subarray(0, at));
    if (entry) out[at] = v;
    out.set(col.subarray(at + cut), at + add);
    return out;
  };
  return {
    n,
    ids,
    kHi: splice(set.kHi, (l) => new Uint32Array(l), entry?.kHi ?? 0),
    kLo: splice(set.kLo, (l) => new Uint32Array(l), entry?.kLo ?? 0),
    weight: splice(set.weight, (l) => new Float64Array(l), entry?.weight ?? 0),
    zone: splice(set.zone, (l) => new Int32Array(l), entry?.zone ?? 0),
    fabric: splice(set.fabric, (l) => new Int32Array(l), entry?.fabric ?? 0),
    handle: splice(set.handle, (l) => new Int32Array(l), entry?.handle ?? 0),
    interned: set.interned,
  };
}

/** Distinct zones and fabrics among the eligible endpoints (for warnings about the spread policy). */
export function localityCounts(set: EligibleSet): { zones: number; fabrics: number } {
  return { zones: new Set(set.zone).size, fabrics: new Set(set.fabric).size };
}
