/**
 * Incremental shard map update for one endpoint's change (docs/architecture.md "The pipeline", sharding): always equal
 * to a full recompute (same owners, warnings and version), at a cost of O(S x R + N) plus O(N) for
 * each shard that loses an owner.
 *
 * Why it is exact. The greedy selection (owner-selection.ts) has three facts:
 *  1. A candidate it does not choose can be removed without changing its result (every pass skips
 *     it without changing state). So where endpoint X owned nothing, X's old score is irrelevant,
 *     and the shard is "old owners + X with its new score".
 *  2. If X ranks below every current owner, each pass walks exactly as before up to X; X is chosen
 *     only if, in some pass, the owners chosen by that pass leave a free slot and X passes that
 *     pass's test (distinct zone or fabric, or "any" in the last pass). That check is O(R) from the
 *     stored score, pass, zone and fabric of each owner slot.
 *  3. Adding a candidate X never brings in anyone but X: owners(C + X) minus X is a subset of
 *     owners(C), for every policy (docs/hashing.md "Properties" has the argument; the property
 *     tests check it). With fact 1, owners(C + X) = greedy(owners(C) + X): R + 1 candidates.
 * So only shards that X owned are recomputed from every eligible endpoint (O(N) each: they lose an
 * owner and need the next best). Where X may enter, the greedy runs over the old owners plus X
 * (O(R log R)); under `none` that is an insertion into the ranked owners.
 */
import { type Endpoint, sameEndpoint } from '../core/endpoint.js';
import { KeywayError } from '../core/errors.js';
import { buildShardMap, computeShardMap } from './compute.js';
import {
  type EligibleEntry,
  eligibleEntry,
  findSorted,
  internTableOutgrown,
  isEligible,
  localityCounts,
  replaceInEligibleSet,
} from './eligible-set.js';
import { scoreFromU, uAcrossShards } from './rendezvous-score.js';
import {
  canonicalEndpoint,
  type OwnerColumns,
  remember,
  ShardComputer,
  type ShardMapState,
  stateOf,
  warningsFor,
} from './shard-map-state.js';
import type { EndpointChange, ShardMap } from '../core/shard-map.js';
import { normalizeEndpoint, validateEndpoint } from './validate.js';
import { shardMapVersion } from './version.js';


/** The endpoint list after the change, for maps made elsewhere (no stored state): a full recompute. */
function recomputeFrom(map: ShardMap, change: EndpointChange): ShardMap {
  const id = change.kind === 'remove' ? change.id : change.endpoint.id;
  const rest = map.endpoints.filter((e) => e.id !== id);
  return computeShardMap(change.kind === 'upsert' ? [...rest, change.endpoint] : rest, map.policy);
}

/**
 * The map after one endpoint is added, changed (weight, ready, locality, address) or removed;
 * identical to `computeShardMap` over the changed endpoint list (pipeline stage 2, incremental).
 * Removing an unknown id or upserting an identical endpoint returns `map` itself. Throws
 * BAD_ARGUMENT for an invalid endpoint, like computeShardMap.
 */
export function applyEndpointChange(map: ShardMap, change: EndpointChange): ShardMap {
  if (change.kind === 'upsert') validateEndpoint(change.endpoint, 'endpoint');
  else if (typeof change.id !== 'string') {
    throw new KeywayError('BAD_ARGUMENT', 'remove needs an endpoint id', { field: 'id' });
  }
  const state = stateOf(map);
  if (!state) return recomputeFrom(map, change);

  const id = change.kind === 'remove' ? change.id : change.endpoint.id;
  const found = findSorted(map.endpoints, id);
  const old = found >= 0 ? (map.endpoints[found] as Endpoint) : undefined;
  const next = change.kind === 'upsert' ? normalizeEndpoint(change.endpoint) : undefined;
  if (!old && !next) return map;
  if (old && next && sameEndpoint(old, next)) return map;

  const at = found >= 0 ? found : -found - 1;
  const cut = old ? 1 : 0;
  const endpoints = map.endpoints.slice();
  const canonical = state.canonical.slice();
  if (next) {
    endpoints.splice(at, cut, next);
    canonical.splice(at, cut, canonicalEndpoint(next));
  } else {
    endpoints.splice(at, cut);
    canonical.splice(at, cut);
  }
  const policy = map.policy;
  // Pod names change on every rollout, and this lineage's intern table keeps every id it has seen:
  // once it holds far more than the live endpoints, a full computation (equal result) starts a new
  // lineage with a new table, and the old one goes with the old maps. Amortized O(S) per change.
  const table = state.eligible.interned;
  if (internTableOutgrown(table, endpoints.length)) return buildShardMap(endpoints, policy);
  const version = shardMapVersion(policy, canonical);

  const wasEligible = old !== undefined && isEligible(old);
  const nowEligible = next !== undefined && isEligible(next);
  const ownershipSame =
    (!wasEligible && !nowEligible) ||
    (wasEligible &&
      nowEligible &&
      old.weight === next.weight &&
      table.zoneOf(old) === table.zoneOf(next) &&
      table.fabricOf(old) === table.fabricOf(next));

  let nextState: ShardMapState;
  let owners: readonly (readonly string[])[];
  if (ownershipSame) {
    nextState = { ...state, canonical };
    owners = map.owners;
  } else {
    const eligible = replaceInEligibleSet(state.eligible, id, nowEligible ? eligibleEntry(next, table) : null);
    const cols: OwnerColumns = {
      owners: map.owners.slice(),
      ownerScore: state.ownerScore.slice(),
      ownerPass: state.ownerPass.slice(),
      ownerZone: state.ownerZone.slice(),
      ownerFabric: state.ownerFabric.slice(),
      ownerHandle: state.ownerHandle.slice(),
    };
    updateOwners(map, state, eligible, cols, id, wasEligible, nowEligible ? next : undefined);
    nextState = { steps: state.steps, eligible, canonical, ...cols };
    owners = cols.owners;
  }
  const result: ShardMap = {
    version,
    policy,
    endpoints,
    owners,
    warnings: warningsFor(policy, endpoints.length, nextState.eligible.n, localityCounts(nextState.eligible)),
  };
  return remember(result, nextState);
}

/**
 * About how many rendezvous scores' time applyEndpointChange(map, change) takes on the calling
 * thread: S for X's own column plus, for each shard X owned (it loses an owner and every eligible
 * endpoint is scored again), N scores and the choice of R owners among them; Infinity when the
 * step is a full computation (no bookkeeping, or an outgrown intern table). planShardMap leaves
 * steps past its limit to the caller's full computation, which runs off the event loop
 * (docs/security.md "Work budget"). Never throws: the step itself refuses an invalid change.
 */
export function incrementalWork(map: ShardMap, change: EndpointChange): number {
  const state = stateOf(map);
  if (!state) return Number.POSITIVE_INFINITY;
  const id = change.kind === 'remove' ? change.id : change.endpoint?.id;
  if (typeof id !== 'string') return 0;
  const found = findSorted(map.endpoints, id);
  const old = found >= 0 ? (map.endpoints[found] as Endpoint) : undefined;
  const after = map.endpoints.length - (old ? 1 : 0) + (change.kind === 'upsert' ? 1 : 0);
  if (internTableOutgrown(state.eligible.interned, after)) return Number.POSITIVE_INFINITY;
  if (!old || !isEligible(old)) return map.policy.shardCount;
  const next = change.kind === 'upsert' ? change.endpoint : undefined;
  const loc = next?.locality;
  if (
    next !== undefined &&
    isEligible(next) &&
    next.weight === old.weight &&
    loc?.region === old.locality.region &&
    loc.zone === old.locality.zone &&
    loc.subzone === old.locality.subzone
  ) {
    return 0; // ownership does not change (an address or port change)
  }
  const at = findSorted(state.eligible.ids, id);
  if (at < 0) return map.policy.shardCount;
  const handle = state.eligible.handle[at] as number;
  const R = map.policy.replicas;
  let owned = 0;
  map.owners.forEach((ow, s) => {
    for (let j = 0; j < ow.length; j++) if (state.ownerHandle[s * R + j] === handle) owned++;
  });
  // Choosing R owners among n costs about R^2 / 3 scores' time on top of the n scores (measured at R = 255).
  return map.policy.shardCount + owned * (state.eligible.n + Math.ceil((R * R) / 3));
}

/** Rewrites the owner columns of every shard that X (id) leaves, may leave or enters. */
function updateOwners(
  map: ShardMap,
  state: ShardMapState,
  eligible: ShardMapState['eligible'],
  cols: OwnerColumns,
  id: string,
  wasEligible: boolean,
  next: Endpoint | undefined,
): void {
  const { shardCount: S, replicas: R, spread } = map.policy;
  const computer = new ShardComputer(map.policy, state.steps, eligible);
  const { ownerScore, ownerPass, ownerZone, ownerFabric, ownerHandle } = cols;
  const table = eligible.interned;
  const x = next ? eligibleEntry(next, table) : undefined;
  const xHandle = table.handleOf(id);
  const xu = new Float64Array(x ? S : 0);
  if (x) uAcrossShards(x.kHi, x.kLo, state.steps, xu);
  for (let s = 0; s < S; s++) {
    const ow = cols.owners[s] as readonly string[];
    const base = s * R;
    const c = ow.length;
    if (wasEligible) {
      let owned = false;
      for (let j = 0; j < c; j++) if (ownerHandle[base + j] === xHandle) owned = true;
      if (owned) {
        computer.compute(s, cols);
        continue;
      }
    }
    if (!x) continue;
    const u = xu[s] as number;
    // First owner slot that X outranks (for `none`, owners are in rank order: the insertion point).
    // X's score <= weight / (1 - u): when that bound is below every owner's score, skip the log.
    let minScore = Number.POSITIVE_INFINITY;
    for (let j = 0; j < c; j++) minScore = Math.min(minScore, ownerScore[base + j] as number);
    let sc = Number.NaN;
    let beats = -1;
    if (c === 0 || x.weight / (1 - u) >= minScore * (1 - 1e-9)) {
      sc = scoreFromU(u, x.weight);
      for (let j = 0; j < c; j++) {
        const os = ownerScore[base + j] as number;
        if (sc > os || (sc === os && id < (ow[j] as string))) {
          beats = j;
          break;
        }
      }
    }
    if (beats < 0 && !admitted(ownerPass, ownerZone, ownerFabric, base, c, R, spread, x.zone, x.fabric)) continue;
    if (Number.isNaN(sc)) sc = scoreFromU(u, x.weight);
    if (spread !== 'none') {
      reselectWithNewcomer(cols, s, R, spread, x, sc);
      continue;
    }
    // none: insert X into the ranked owners, dropping the last if there were R.
    const p = beats < 0 ? c : beats;
    const count = Math.min(c + 1, R);
    const list = new Array<string>(count);
    for (let j = count - 1; j > p; j--) {
      list[j] = ow[j - 1] as string;
      ownerScore[base + j] = ownerScore[base + j - 1] as number;
      ownerZone[base + j] = ownerZone[base + j - 1] as number;
      ownerFabric[base + j] = ownerFabric[base + j - 1] as number;
      ownerHandle[base + j] = ownerHandle[base + j - 1] as number;
      ownerPass[base + j] = 1;
    }
    for (let j = 0; j < p; j++) list[j] = ow[j] as string;
    list[p] = x.id; // the normalized endpoint's id, not the caller's (normalizeEndpoint)
    ownerScore[base + p] = sc;
    ownerZone[base + p] = x.zone;
    ownerFabric[base + p] = x.fabric;
    ownerHandle[base + p] = x.handle;
    ownerPass[base + p] = 1;
    cols.owners[s] = list;
  }
}

/**
 * Whether a candidate ranked below all `c` owners of a shard would still be chosen (fact 2 above):
 * some pass ends with a free slot and the candidate passes that pass's test.
 */
function admitted(
  pass: Uint8Array,
  zone: Int32Array,
  fabric: Int32Array,
  base: number,
  c: number,
  R: number,
  spread: ShardMap['policy']['spread'],
  zx: number,
  fx: number,
): boolean {
  if (c < R) return true; // the last pass takes any candidate
  if (spread === 'none') return false;
  if (spread === 'subzone') {
    let c1 = 0;
    let clash = false;
    for (let j = 0; j < c; j++) {
      if (pass[base + j] === 1) {
        c1++;
        if (fabric[base + j] === fx) clash = true;
      }
    }
    return c1 < R && !clash;
  }
  let c1 = 0;
  let c2 = 0;
  let zoneClash = false;
  let fabricClash = false;
  for (let j = 0; j < c; j++) {
    const p = pass[base + j] as number;
    if (p === 1) {
      c1++;
      if (zone[base + j] === zx) zoneClash = true;
    }
    if (p <= 2) {
      c2++;
      if (fabric[base + j] === fx) fabricClash = true;
    }
  }
  return (c1 < R && !zoneClash) || (c2 < R && !fabricClash);
}

/**
 * Shard `s` with newcomer X among its candidates: the literal greedy walk over the current owners
 * plus X (fact 3 above), written back to the owner columns in the order chosen.
 */
function reselectWithNewcomer(
  cols: OwnerColumns,
  s: number,
  R: number,
  spread: ShardMap['policy']['spread'],
  x: EligibleEntry,
  score: number,
): void {
  const ow = cols.owners[s] as readonly string[];
  const base = s * R;
  const c = ow.length;
  const ids = [...ow, x.id];
  const scores = [...cols.ownerScore.subarray(base, base + c), score];
  const zones = [...cols.ownerZone.subarray(base, base + c), x.zone];
  const fabrics = [...cols.ownerFabric.subarray(base, base + c), x.fabric];
  const handles = [...cols.ownerHandle.subarray(base, base + c), x.handle];
  const ranked = ids.map((_, j) => j);
  ranked.sort((a, b) => (scores[b] as number) - (scores[a] as number) || ((ids[a] as string) < (ids[b] as string) ? -1 : 1));
  const chosen: number[] = [];
  const passes: number[] = [];
  const taken = new Set<number>();
  const lastPass = spread === 'subzone' ? 2 : 3;
  for (let pass = 1; pass <= lastPass && chosen.length < R; pass++) {
    const group: number[] | null = pass === lastPass ? null : spread === 'zone' && pass === 1 ? zones : fabrics;
    for (const j of ranked) {
      if (chosen.length === R) break;
      if (taken.has(j)) continue;
      if (group && chosen.some((k) => group[k] === group[j])) continue;
      chosen.push(j);
      passes.push(pass);
      taken.add(j);
    }
  }
  const list = new Array<string>(chosen.length);
  chosen.forEach((j, k) => {
    list[k] = ids[j] as string;
    cols.ownerScore[base + k] = scores[j] as number;
    cols.ownerZone[base + k] = zones[j] as number;
    cols.ownerFabric[base + k] = fabrics[j] as number;
    cols.ownerHandle[base + k] = handles[j] as number;
    cols.ownerPass[base + k] = passes[k] as number;
  });
  cols.owners[s] = list;
}
