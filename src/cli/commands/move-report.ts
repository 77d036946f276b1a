/**
 * What a topology change would do to cached data (`keyway diff`, docs/cli.md "Cold data"): which
 * shards move, from whom to whom, and the share of cached data that would go cold. Pure.
 *
 * Keys spread evenly over shards (murmur3 mod S), so a share of shards is a share of keys. When S
 * differs between the maps every key is rehashed: a key with hash h sits on shard h mod S before and
 * h mod S' after, so the shares are averaged over the residues of h modulo lcm(S, S') instead.
 */
import { endpointShares, type ShardMap } from '../../sharding/index.js';
import { sameEndpoint } from '../../core/endpoint.js';
import { compareStrings } from '../../core/order.js';

/** Residues enumerated exactly up to this many; beyond, an evenly spaced sample of this size. */
export const MAX_RESIDUES = 1 << 22;

/** Shares in [0, 1] of keys (or of owner slots) that would start cold. */
export interface ColdShares {
  /**
   * Keys whose new primary held no copy of them before (it was neither their primary nor a
   * replica): cold at the node that serves them, when replicas keep warm copies.
   */
  readonly primary: number;
  /** Keys whose primary changes: cold at the node that serves them, when only primaries hold data. */
  readonly primaryChanged: number;
  /** New owner slots (shard, owner) whose owner held no copy before: the copies that must be refilled. */
  readonly copies: number;
  /** Numerators and denominators behind the shares (in residues: shards when S is unchanged). */
  readonly counts: {
    readonly keys: number;
    readonly primaryCold: number;
    readonly primaryChanged: number;
    readonly copySlots: number;
    readonly copiesCold: number;
  };
  /** True when lcm(S, S') exceeded MAX_RESIDUES and the shares come from an even sample. */
  readonly approximate: boolean;
}

export interface PairCount {
  /** Endpoint id, or null for "no owner" (a shard without owners, or a slot that appears or vanishes). */
  readonly from: string | null;
  readonly to: string | null;
  readonly shards: number;
}

export interface EndpointMoveRow {
  readonly id: string;
  readonly zone: string;
  readonly subzone: string;
  readonly change: 'added' | 'removed' | 'changed' | 'unchanged';
  /** Weight and readiness before and after (null where the endpoint does not exist). */
  readonly weight: { readonly before: number | null; readonly after: number | null };
  readonly ready: { readonly before: boolean | null; readonly after: boolean | null };
  /** Whether it is draining (a planned departure, docs/ownership.md) before and after. */
  readonly draining: { readonly before: boolean | null; readonly after: boolean | null };
  readonly owned: { readonly before: number; readonly after: number };
  readonly primary: { readonly before: number; readonly after: number };
  /** Shard-level movement; only when S is unchanged. */
  readonly gained?: number;
  readonly lost?: number;
  readonly primaryGained?: number;
  readonly primaryLost?: number;
}

export interface MapSummary {
  readonly version: string;
  readonly shardCount: number;
  readonly replicas: number;
  readonly spread: string;
  readonly endpoints: number;
  readonly eligibleEndpoints: number;
}

export interface MoveReport {
  readonly from: MapSummary;
  readonly to: MapSummary;
  /** False when S differs: every key gets a new shard number and shard-level tables are left out. */
  readonly sameShardCount: boolean;
  /** Shards whose owner list changed (membership or order); S unchanged only, else null. */
  readonly movedShards: number | null;
  /** Shards whose primary changed; S unchanged only, else null. */
  readonly primaryChangedShards: number | null;
  readonly cold: ColdShares;
  /** Old primary to new primary, for shards whose primary changed, largest first (S unchanged only). */
  readonly primaryMoves: readonly PairCount[];
  /**
   * Owner slots handed over: per shard, the owners that leave paired in order with the owners that
   * arrive; extra ones pair with null. Largest first (S unchanged only).
   */
  readonly copyMoves: readonly PairCount[];
  readonly endpoints: readonly EndpointMoveRow[];
}

/** Compares two shard maps (from the same or different topologies) and reports what would move. */
export function moveReport(from: ShardMap, to: ShardMap): MoveReport {
  const same = from.policy.shardCount === to.policy.shardCount;
  const primaryPairs = new Map<string, PairCount>();
  const copyPairs = new Map<string, PairCount>();
  const gained = new Map<string, number>();
  const lost = new Map<string, number>();
  const primaryGained = new Map<string, number>();
  const primaryLost = new Map<string, number>();
  let movedShards = 0;
  let primaryChangedShards = 0;
  if (same) {
    for (let s = 0; s < from.owners.length; s++) {
      const a = from.owners[s]!;
      const b = to.owners[s]!;
      if (a.length === b.length && a.every((id, i) => id === b[i])) continue;
      movedShards++;
      if (a[0] !== b[0]) {
        primaryChangedShards++;
        bump(primaryPairs, a[0] ?? null, b[0] ?? null);
        if (a[0] !== undefined) inc(primaryLost, a[0]);
        if (b[0] !== undefined) inc(primaryGained, b[0]);
      }
      const leaving = a.filter((id) => !b.includes(id));
      const arriving = b.filter((id) => !a.includes(id));
      for (let i = 0; i < Math.max(leaving.length, arriving.length); i++) {
        bump(copyPairs, leaving[i] ?? null, arriving[i] ?? null);
      }
      for (const id of leaving) inc(lost, id);
      for (const id of arriving) inc(gained, id);
    }
  }

  const before = endpointShares(from);
  const after = endpointShares(to);
  const old = new Map(from.endpoints.map((e) => [e.id, e]));
  const neu = new Map(to.endpoints.map((e) => [e.id, e]));
  const ids = [...new Set([...old.keys(), ...neu.keys()])].sort();
  const endpoints: EndpointMoveRow[] = ids.map((id) => {
    const o = old.get(id);
    const n = neu.get(id);
    const e = (n ?? o)!;
    const change = !o ? 'added' : !n ? 'removed' : sameEndpoint(o, n) ? 'unchanged' : 'changed';
    return {
      id,
      zone: e.locality.zone,
      subzone: e.locality.subzone,
      change,
      weight: { before: o?.weight ?? null, after: n?.weight ?? null },
      ready: { before: o?.ready ?? null, after: n?.ready ?? null },
      draining: { before: o ? o.draining === true : null, after: n ? n.draining === true : null },
      owned: { before: before.get(id)?.owned ?? 0, after: after.get(id)?.owned ?? 0 },
      primary: { before: before.get(id)?.primary ?? 0, after: after.get(id)?.primary ?? 0 },
      ...(same
        ? { gained: gained.get(id) ?? 0, lost: lost.get(id) ?? 0, primaryGained: primaryGained.get(id) ?? 0, primaryLost: primaryLost.get(id) ?? 0 }
        : {}),
    };
  });

  return {
    from: summary(from),
    to: summary(to),
    sameShardCount: same,
    movedShards: same ? movedShards : null,
    primaryChangedShards: same ? primaryChangedShards : null,
    cold: coldShares(from, to),
    primaryMoves: sortedPairs(primaryPairs),
    copyMoves: sortedPairs(copyPairs),
    endpoints,
  };
}

/** The cold-data shares, averaged over key residues modulo lcm(S, S') (= over shards when S is unchanged). */
export function coldShares(from: ShardMap, to: ShardMap): ColdShares {
  const S1 = from.policy.shardCount;
  const S2 = to.policy.shardCount;
  const L = lcm(S1, S2);
  const approximate = L > MAX_RESIDUES;
  const n = approximate ? MAX_RESIDUES : L;
  // Owners as numbers, and the old owners of each residue marked in `seen` (stamped with the
  // residue's turn): a membership test per new owner, not a scan of the old list. Scans cost
  // n x R x R' and took half a minute at the work budget (4194304 residues, R = 16, R' = 255).
  const index = new Map<string, number>();
  const a = numbered(from.owners, index);
  const b = numbered(to.owners, index);
  const seen = new Uint32Array(index.size);
  let primaryCold = 0;
  let primaryChanged = 0;
  let copySlots = 0;
  let copiesCold = 0;
  for (let i = 0; i < n; i++) {
    // L / n first: i * L could pass 2^53 for S near the maximum.
    const r = approximate ? Math.floor(i * (L / n)) : i;
    const before = a[r % S1]!;
    const after = b[r % S2]!;
    const turn = i + 1;
    for (let k = 0; k < before.length; k++) seen[before[k]!] = turn;
    const p = after[0];
    if (p === undefined || seen[p] !== turn) primaryCold++;
    if (p !== before[0]) primaryChanged++;
    copySlots += after.length;
    for (let k = 0; k < after.length; k++) if (seen[after[k]!] !== turn) copiesCold++;
  }
  return {
    primary: n > 0 ? primaryCold / n : 0,
    primaryChanged: n > 0 ? primaryChanged / n : 0,
    copies: copySlots > 0 ? copiesCold / copySlots : 0,
    counts: { keys: n, primaryCold, primaryChanged, copySlots, copiesCold },
    approximate,
  };
}

/** Each shard's owners as numbers, one per id (numbered in `index`, which it extends). */
function numbered(owners: ShardMap['owners'], index: Map<string, number>): Int32Array[] {
  return owners.map((list) =>
    Int32Array.from(list, (id) => {
      let k = index.get(id);
      if (k === undefined) index.set(id, (k = index.size));
      return k;
    }),
  );
}

function summary(map: ShardMap): MapSummary {
  return {
    version: map.version,
    shardCount: map.policy.shardCount,
    replicas: map.policy.replicas,
    spread: map.policy.spread,
    endpoints: map.endpoints.length,
    eligibleEndpoints: map.endpoints.filter((e) => e.ready && e.weight > 0).length,
  };
}


function inc(m: Map<string, number>, id: string): void {
  m.set(id, (m.get(id) ?? 0) + 1);
}

function bump(m: Map<string, PairCount>, from: string | null, to: string | null): void {
  const key = JSON.stringify([from, to]);
  const p = m.get(key);
  m.set(key, { from, to, shards: (p?.shards ?? 0) + 1 });
}

function sortedPairs(m: Map<string, PairCount>): PairCount[] {
  const name = (x: string | null): string => x ?? '';
  // Code-unit order, not localeCompare: the order must not follow LANG, or `keyway diff` output
  // differs between machines for the same files.
  return [...m.values()].sort(
    (a, b) => b.shards - a.shards || compareStrings(name(a.from), name(b.from)) || compareStrings(name(a.to), name(b.to)),
  );
}

function gcd(a: number, b: number): number {
  while (b !== 0) [a, b] = [b, a % b];
  return a;
}

function lcm(a: number, b: number): number {
  return (a / gcd(a, b)) * b;
}
