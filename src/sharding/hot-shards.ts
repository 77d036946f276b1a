/**
 * The hot-shard policy (docs/hot-shards.md): from the plain rendezvous map and the last load
 * snapshots, which shards are spread over several readers and which moved to the next owner in
 * rendezvous order (bounded load). Pure and deterministic: replicas that read the same snapshots
 * publish the same map, whatever order the endpoints or snapshot entries arrive in.
 *
 * The decision is a replay: it starts from plain rendezvous ownership at an anchor window and
 * takes one step per window after it, each step judging the means over the `historyWindows`
 * windows up to its own (meanSnapshot: per-window counts are noisy) and changing at most
 * `maxMovesPerWindow` shards of the previous step's state. So a shard moved or spread in one
 * window stays so in the next unless its situation clearly changed (hysteresis on the decision),
 * and yet the decision needs no memory beyond the snapshots every replica reads. Where the replay
 * begins is fixed by window numbers (hot-shard-history.ts, replayStart), so consecutive decisions
 * are consecutive steps of one replay; when the anchor moves, the decision catches up with the new
 * replay within the churn budget (hot-shard-catch-up.ts). With `replayWindows: 0` the decision
 * instead folds the newest history mean from plain rendezvous until a fixed point (no state
 * carried between windows). With no snapshot the map is exactly plain rendezvous.
 */
import { createHash } from 'node:crypto';
import type { HotShard, HotShardDecision, HotShardReason, HotShardSettings, LoadSnapshot } from '../core/load.js';
import { compareStrings } from '../core/order.js';
import { type ShardMap, shardReaders } from '../core/shard-map.js';
import { catchUpStep, sameShardState, type CatchUpModel, type CatchUpStep } from './hot-shard-catch-up.js';
import { canonicalSnapshots, heldWindows, historyUpTo, meanSnapshot, replayAnchors, replayStart, replayStarts, usable, type ReplayAnchors } from './hot-shard-history.js';
import { rendezvousScore } from './rendezvous-score.js';

export { heldWindows } from './hot-shard-history.js';

/** The policy's change to one shard, during the fold. */
interface ShardState {
  /** Owners after the policy, primary first. */
  readonly owners: readonly string[];
  readonly readers: number;
  readonly reason: HotShardReason;
  readonly explanation: string;
}

/** Empty decision: plain rendezvous ownership. */
export const NO_HOT_SHARDS: HotShardDecision = Object.freeze({ windowStartMs: 0, shards: Object.freeze([]), moves: 0, deferred: 0 });

/**
 * The hot-shard decision for `map`, the plain rendezvous map, from `snapshots` (any order; sorted
 * by window here, the last `heldWindows(settings)` used): docs/hot-shards.md "The algorithm".
 * Endpoint weights come from `map.endpoints`; only ready endpoints with weight > 0 serve.
 * `maxSteps` stops the replay (or fold) early (tests check the churn budget step by step with it).
 * Returns NO_HOT_SHARDS when disabled or when there is no snapshot.
 */
export function decideHotShards(map: ShardMap, snapshots: readonly LoadSnapshot[], settings: HotShardSettings, maxSteps = Infinity): HotShardDecision {
  const windows = canonicalSnapshots(snapshots, heldWindows(settings));
  if (!settings.enabled || windows.length === 0 || map.owners.length === 0) return NO_HOT_SHARDS;
  if (settings.replayWindows <= 0 || maxSteps !== Infinity) return replayHotShards(map, windows, settings, replayStart(windows, settings.replayWindows), maxSteps);
  return anchoredDecision(map, windows, settings);
}

/**
 * The decision with a replay (docs/hot-shards.md "Churn budget"): the replay in force, except
 * right after its anchor moved, where the decision starts from the previous replay's last one
 * and catches up with the new replay by at most `maxMovesPerWindow` shards per window, so that
 * consecutive decisions never differ in more shards than that. It assumes the previous catch-up
 * was over when the anchor moved (it takes `d / (budget - the replay's own changes)` windows for
 * `d` shards of disagreement; replayWindows windows are allowed).
 */
function anchoredDecision(map: ShardMap, windows: readonly LoadSnapshot[], settings: HotShardSettings): HotShardDecision {
  const replay = AnchoredReplay.begin(map, windows, settings);
  replay.advance(windows);
  return replay.decision();
}

/**
 * The two replays of an anchored decision, stepped window by window, so that a caller holding one
 * (HotShardDecider) can take the next window's step alone instead of replaying the whole period
 * again: the state after a window depends only on the windows up to it. With `withSuccessor`, it
 * also steps the replay that begins at its switch, which is the replay in force of the next
 * anchor period, so that period can start from it (successor) instead of replaying it.
 */
export class AnchoredReplay {
  /** Start ms of the last window stepped on (-Infinity: none yet). */
  lastStepped: number;
  readonly #settings: HotShardSettings;
  readonly #fold: HotShardFold;
  /** The decision in force: the previous replay's last one, then the catch-up's; undefined once the catch-up is over. */
  #published: HotShardFold | undefined;
  #caughtUp: CatchUpStep<ShardState> | undefined;
  #result: ReplayResult | undefined;
  #totalMoves: number;
  /** The replay begun at `anchors.switched` (withSuccessor), and its moves. */
  readonly #next: HotShardFold | undefined;
  #nextMoves = 0;

  private constructor(
    readonly map: ShardMap,
    settings: HotShardSettings,
    readonly anchors: ReplayAnchors,
    published: HotShardFold,
    fold: HotShardFold,
    totalMoves: number,
    lastStepped: number,
    withSuccessor: boolean,
  ) {
    this.#settings = settings;
    this.#published = published;
    this.#fold = fold;
    this.#totalMoves = totalMoves;
    this.lastStepped = lastStepped;
    this.#next = withSuccessor ? new HotShardFold(map, settings) : undefined;
  }

  /** The replays for `windows` (canonical, not empty; `settings.replayWindows > 0`), the previous one run to its end. */
  static begin(map: ShardMap, windows: readonly LoadSnapshot[], settings: HotShardSettings, withSuccessor = false): AnchoredReplay {
    const { previous, switched } = replayStarts(windows, settings.replayWindows);
    const published = new HotShardFold(map, settings);
    if (previous < switched) runReplay(published, windows, settings, previous, switched);
    return new AnchoredReplay(map, settings, replayAnchors(windows, settings.replayWindows), published, new HotShardFold(map, settings), 0, -Infinity, withSuccessor);
  }

  /**
   * The replays of the next anchor period, without replaying: its previous replay is this one's
   * replay in force, and its replay in force the one this stepped from the switch on. Undefined
   * unless this stepped on every window up to the one before `anchors.switched` and had a successor
   * to keep; the caller checks that the windows read are the same.
   */
  successor(anchors: ReplayAnchors, windowBeforeSwitch: number | undefined): AnchoredReplay | undefined {
    if (this.#next === undefined || anchors.previous !== this.anchors.current || anchors.current !== this.anchors.switched || windowBeforeSwitch !== this.lastStepped) return undefined;
    const published = new HotShardFold(this.map, this.#settings);
    for (const [shard, st] of this.#fold.state) published.state.set(shard, st);
    return new AnchoredReplay(this.map, this.#settings, anchors, published, this.#next, this.#nextMoves, this.lastStepped, true);
  }

  /** Steps on every window of `windows` after the last one stepped on (the current replay's from its anchor on the first call). */
  advance(windows: readonly LoadSnapshot[]): void {
    const { current, switched } = replayStarts(windows, this.#settings.replayWindows);
    let first = current;
    while (first < windows.length && windows[first]!.windowStartMs <= this.lastStepped) first++;
    if (first >= windows.length) return;
    const result = runReplay(this.#fold, windows, this.#settings, first, windows.length, (k, judged) => {
      if (k < switched) return;
      if (this.#next) this.#nextMoves += this.#next.step(judged).moves;
      if (this.#published === undefined) {
        this.#caughtUp = undefined;
        return;
      }
      this.#caughtUp = catchUpStep(new Map(this.#published.state), this.#fold.state, this.#settings.maxMovesPerWindow, this.#published.catchUpModel(judged));
      this.#published.state.clear();
      for (const [shard, st] of this.#caughtUp.state) this.#published.state.set(shard, st);
      // Caught up: each later replay step changes at most the budget, so the decision is the replay's.
      if (this.#caughtUp.remaining === 0) this.#published = undefined;
    });
    this.#totalMoves += result.totalMoves;
    this.#result = { ...result, totalMoves: this.#totalMoves };
    this.lastStepped = windows[windows.length - 1]!.windowStartMs;
  }

  /** The decision after the last window stepped on (advance first). */
  decision(): HotShardDecision {
    const result = this.#result!;
    const caughtUp = this.#caughtUp;
    if (caughtUp === undefined) return decisionOf(this.#fold, result);
    // The catch-up's state, in a fold of its own: the replay's goes on at the next window.
    const out = new HotShardFold(this.map, this.#settings);
    for (const [shard, st] of caughtUp.state) {
      const kept = !sameShardState(st, this.#fold.state.get(shard));
      out.state.set(shard, kept ? { ...st, explanation: `${st.explanation}; kept from the decision before the replay's anchor moved (churn budget)` } : st);
    }
    return decisionOf(out, { ...result, last: { moves: caughtUp.moves, deferred: result.last.deferred + caughtUp.remaining } });
  }
}

/**
 * The replay behind decideHotShards from `windows[start]` on (`windows` canonical: one per window,
 * oldest first). Exported for the policy simulation (benchmarks/hitrate/hot-policy-sim.ts), which
 * compares anchored starts with other ones; everything else calls decideHotShards.
 */
export function replayHotShards(map: ShardMap, windows: readonly LoadSnapshot[], settings: HotShardSettings, start: number, maxSteps = Infinity): HotShardDecision {
  const fold = new HotShardFold(map, settings);
  const history = Math.max(1, settings.historyWindows);
  if (settings.replayWindows > 0) {
    const first = Math.min(Math.max(0, start), windows.length - 1);
    return decisionOf(fold, runReplay(fold, windows, settings, first, Math.min(windows.length, first + Math.max(1, maxSteps))));
  }
  // No replay: every step judges the newest history's mean, from plain rendezvous each time.
  const judged = meanSnapshot(historyUpTo(windows, windows.length - 1, history));
  let last: StepResult = { moves: 0, deferred: 0 };
  let totalMoves = 0;
  for (let i = 0; i < Math.min(history, windows.length, maxSteps); i++) {
    last = fold.step(judged);
    totalMoves += last.moves;
    // A step that neither moved nor deferred anything is a fixed point: the next would do the same.
    if (last.moves === 0 && last.deferred === 0) break;
  }
  return decisionOf(fold, { judged, last, totalMoves });
}

interface ReplayResult {
  /** What the last step judged: the history's mean up to the newest window stepped on. */
  readonly judged: LoadSnapshot;
  readonly last: StepResult;
  readonly totalMoves: number;
}

/** Steps `fold` once per window `windows[first..end)`, each judging its history's mean; `after(k, judged)` runs after step k. */
function runReplay(fold: HotShardFold, windows: readonly LoadSnapshot[], settings: HotShardSettings, first: number, end: number, after?: (k: number, judged: LoadSnapshot) => void): ReplayResult {
  const history = Math.max(1, settings.historyWindows);
  let judged = windows[first]!;
  let last: StepResult = { moves: 0, deferred: 0 };
  let totalMoves = 0;
  for (let k = first; k < end; k++) {
    judged = meanSnapshot(historyUpTo(windows, k, history));
    last = fold.step(judged);
    totalMoves += last.moves;
    after?.(k, judged);
  }
  return { judged, last, totalMoves };
}

/** The decision from the fold's state, judged on `result.judged`. */
function decisionOf(fold: HotShardFold, { judged, last, totalMoves }: ReplayResult): HotShardDecision {
  const load = fold.loadsOf(judged);
  const shards: HotShard[] = [...fold.state.entries()]
    .sort((a, b) => a[0] - b[0])
    .map(([shard, s]) => ({ shard, load: load.get(shard) ?? 0, owners: s.owners, readers: s.readers, reason: s.reason, explanation: s.explanation }));
  const model = fold.model(judged);
  return {
    windowStartMs: judged.windowStartMs,
    shards,
    moves: last.moves,
    deferred: last.deferred,
    totalMoves,
    ...(model.total > 0 ? { maxLoadRatio: round3(model.maxRatio()), plainMaxLoadRatio: round3(fold.mapModel(judged).maxRatio()) } : {}),
  };
}

/**
 * The map proxies get: `map` with the decision's owners and readers, and a version derived from
 * both (so it is part of what replicas agree on). No hot shard: `map` itself, same version.
 */
export function applyHotShards(map: ShardMap, decision: HotShardDecision): ShardMap {
  if (decision.shards.length === 0) return map;
  const owners = map.owners.slice();
  const readers = new Map<number, number>();
  for (const h of decision.shards) {
    if (h.shard < 0 || h.shard >= owners.length) continue;
    owners[h.shard] = h.owners;
    if (h.readers > 1) readers.set(h.shard, h.readers);
  }
  const changed = decision.shards.map((h) => [h.shard, h.readers, ...h.owners]);
  const version = createHash('sha256').update(JSON.stringify(['hot-shards-v1', map.version, changed])).digest('hex').slice(0, 16);
  return { version, policy: map.policy, endpoints: map.endpoints, owners, warnings: map.warnings, ...(readers.size > 0 ? { readers } : {}) };
}

/**
 * Shards whose policy state (owners, readers) differs between two consecutive decisions, a shard
 * the policy takes up or gives back included: what `keyway_hot_shard_moves_total` counts
 * (docs/observability.md). `before` undefined: the first decision, counted from plain rendezvous.
 */
export function hotShardChanges(before: HotShardDecision | undefined, after: HotShardDecision): number {
  const key = (h: HotShard): string => JSON.stringify([h.readers, h.owners]);
  const was = new Map((before?.shards ?? []).map((h) => [h.shard, key(h)]));
  let changed = 0;
  for (const h of after.shards) {
    if (was.get(h.shard) !== key(h)) changed++;
    was.delete(h.shard);
  }
  return changed + was.size;
}

/**
 * Modelled load over weight share of every serving node under `map` (its owners and readers) for
 * one snapshot: a shard's requests split among its readers by weight; requests of shards the
 * snapshot does not list split among their primaries evenly. 1 = exactly the node's share.
 */
export function modelledLoadRatios(map: ShardMap, snapshot: LoadSnapshot): Map<string, number> {
  const fold = new HotShardFold(map, HOT_MODEL_ONLY);
  const m = fold.mapModel(snapshot);
  const out = new Map<string, number>();
  for (const id of fold.ids) out.set(id, m.ratio(id));
  return out;
}

const HOT_MODEL_ONLY: HotShardSettings = {
  enabled: true,
  windowMs: 1,
  epsilon: 0,
  spreadThreshold: 1,
  maxReaders: 1,
  maxMovesPerWindow: 0,
  historyWindows: 1,
  replayWindows: 0,
  margin: 0,
  minWindowRequests: 0,
  snapshot: { source: 'local' },
};

interface StepResult {
  readonly moves: number;
  readonly deferred: number;
}

function round3(x: number): number {
  return Math.round(x * 1000) / 1000;
}

function fmt(x: number): string {
  return x >= 10 ? x.toFixed(0) : x.toFixed(2);
}

/** Modelled node loads for one snapshot under the fold's current state. */
class LoadModel {
  constructor(
    readonly total: number,
    readonly totalWeight: number,
    readonly load: Map<string, number>,
    readonly weight: ReadonlyMap<string, number>,
    /** Requests per second each shard the snapshot does not list adds to its primary. */
    readonly perUnlisted = 0,
  ) {}

  copy(): LoadModel {
    return new LoadModel(this.total, this.totalWeight, new Map(this.load), this.weight, this.perUnlisted);
  }

  /** The node's weight share of the total, in requests per second. */
  share(id: string): number {
    return (this.total * (this.weight.get(id) ?? 0)) / this.totalWeight;
  }

  ratio(id: string): number {
    const share = this.share(id);
    return share > 0 ? (this.load.get(id) ?? 0) / share : 0;
  }

  maxRatio(): number {
    let max = 0;
    for (const id of this.weight.keys()) max = Math.max(max, this.ratio(id));
    return max;
  }

  add(id: string, requests: number): void {
    this.load.set(id, (this.load.get(id) ?? 0) + requests);
  }
}

/** The fold's state and one step of it. */
class HotShardFold {
  readonly state = new Map<number, ShardState>();
  /** Serving endpoints (ready, weight > 0), sorted by id. */
  readonly ids: readonly string[];
  readonly #weight: ReadonlyMap<string, number>;
  readonly #totalWeight: number;
  readonly #order = new Map<number, readonly string[]>();

  constructor(
    readonly map: ShardMap,
    readonly settings: HotShardSettings,
  ) {
    const weight = new Map<string, number>();
    for (const e of map.endpoints) if (e.ready && e.weight > 0 && Number.isFinite(e.weight)) weight.set(e.id, e.weight);
    this.#weight = weight;
    this.ids = [...weight.keys()].sort(compareStrings);
    let w = 0;
    for (const id of this.ids) w += weight.get(id)!;
    this.#totalWeight = w;
  }

  /** Requests per second by shard (entries outside [0, S) or not positive ignored; repeats summed). */
  loadsOf(snapshot: LoadSnapshot): Map<number, number> {
    const S = this.map.owners.length;
    const out = new Map<number, number>();
    for (const s of snapshot.shards) {
      const r = usable(s.requests);
      if (!Number.isInteger(s.shard) || s.shard < 0 || s.shard >= S || r === 0) continue;
      out.set(s.shard, (out.get(s.shard) ?? 0) + r);
    }
    return out;
  }

  /** The owners the shard has now (the policy's or the map's). */
  owners(shard: number): readonly string[] {
    return this.state.get(shard)?.owners ?? this.map.owners[shard] ?? [];
  }

  readers(shard: number): number {
    return this.state.get(shard)?.readers ?? 1;
  }

  /**
   * The shard's candidates in rendezvous order: its map owners (the replica-spread policy's
   * choice), then every other serving endpoint by descending score (ties by id). Hot shards are
   * few, so this is computed for a handful of shards.
   */
  rendezvousOrder(shard: number): readonly string[] {
    let order = this.#order.get(shard);
    if (!order) {
      const base = (this.map.owners[shard] ?? []).filter((id) => this.#weight.has(id));
      const inBase = new Set(base);
      const rest = this.ids
        .filter((id) => !inBase.has(id))
        .map((id) => ({ id, score: rendezvousScore(id, shard, this.#weight.get(id)!) }))
        .sort((a, b) => b.score - a.score || compareStrings(a.id, b.id))
        .map((x) => x.id);
      order = [...base, ...rest];
      this.#order.set(shard, order);
    }
    return order;
  }

  /** Current owners first, then the rest of the rendezvous order: where extra readers come from. */
  candidates(shard: number): readonly string[] {
    const owners = this.owners(shard).filter((id) => this.#weight.has(id));
    const taken = new Set(owners);
    return [...owners, ...this.rendezvousOrder(shard).filter((id) => !taken.has(id))];
  }

  #weightOf(ids: readonly string[], k: number): number {
    let w = 0;
    for (let i = 0; i < k && i < ids.length; i++) w += this.#weight.get(ids[i]!) ?? 0;
    return w;
  }

  /** Modelled node loads under the current state. */
  model(snapshot: LoadSnapshot): LoadModel {
    return this.#model(snapshot, (s) => this.owners(s), (s) => this.readers(s));
  }

  /** Modelled node loads under the map's own owners and readers (plain rendezvous for the policy's input). */
  mapModel(snapshot: LoadSnapshot): LoadModel {
    return this.#model(snapshot, (s) => this.map.owners[s] ?? [], (s) => shardReaders(this.map, s));
  }

  #model(snapshot: LoadSnapshot, ownersOf: (s: number) => readonly string[], readersOf: (s: number) => number): LoadModel {
    const loads = this.loadsOf(snapshot);
    let listed = 0;
    for (const r of loads.values()) listed += r;
    let nodesTotal = 0;
    for (const n of snapshot.nodes) nodesTotal += usable(n.requests);
    const total = Math.max(listed, nodesTotal);
    // Shards too cold to be reported: their requests split evenly among their primaries.
    const residual = total - listed;
    const S = this.map.owners.length;
    const per = residual > 0 ? residual / Math.max(1, S - loads.size) : 0;
    const model = new LoadModel(total, this.#totalWeight, new Map(this.ids.map((id) => [id, 0])), this.#weight, per);
    if (total === 0 || this.#totalWeight === 0) return model;
    for (const [shard, r] of loads) this.#spreadLoad(model, r, ownersOf(shard), readersOf(shard), 1);
    if (residual > 0) {
      for (let s = 0; s < S; s++) {
        if (loads.has(s)) continue;
        const p = ownersOf(s)[0];
        if (p !== undefined && this.#weight.has(p)) model.add(p, per);
      }
    }
    return model;
  }

  /**
   * The catch-up's view of this fold's state under `snapshot` (hot-shard-catch-up.ts): the
   * busiest node's ratio were one shard to take another state, and taking it.
   */
  catchUpModel(snapshot: LoadSnapshot): CatchUpModel<ShardState> {
    // Built on first use: a catch-up within the budget takes every shard and asks nothing.
    let built: LoadModel | undefined;
    let shardLoads: Map<number, number> | undefined;
    const modelled = (): LoadModel => (built ??= this.model(snapshot));
    const loadOf = (shard: number): number | undefined => (shardLoads ??= this.loadsOf(snapshot)).get(shard);
    const plainOwners = (shard: number): readonly string[] => this.map.owners[shard] ?? [];
    /** Moves the shard's requests in `m` from its current state to `next`. */
    const shift = (m: LoadModel, shard: number, next: ShardState | undefined): void => {
      const r = loadOf(shard);
      const owners = next?.owners ?? plainOwners(shard);
      if (r !== undefined) {
        this.#spreadLoad(m, r, this.owners(shard), this.readers(shard), -1);
        this.#spreadLoad(m, r, owners, next?.readers ?? 1, 1);
        return;
      }
      for (const [id, sign] of [[this.owners(shard)[0], -1], [owners[0], 1]] as const) {
        if (id !== undefined && this.#weight.has(id)) m.add(id, sign * m.perUnlisted);
      }
    };
    return {
      load: (shard) => loadOf(shard) ?? 0,
      maxRatioWith: (shard, next) => {
        const m = modelled().copy();
        shift(m, shard, next);
        return m.maxRatio();
      },
      take: (shard, next) => {
        shift(modelled(), shard, next);
        if (next) this.state.set(shard, next);
        else this.state.delete(shard);
      },
    };
  }

  /** Adds (sign 1) or removes (sign -1) a shard's requests split among its first `readers` serving owners by weight. */
  #spreadLoad(model: LoadModel, requests: number, owners: readonly string[], readers: number, sign: 1 | -1): void {
    const serving = owners.filter((id) => this.#weight.has(id)).slice(0, Math.max(1, readers));
    const w = this.#weightOf(serving, serving.length);
    if (w === 0) return;
    for (const id of serving) model.add(id, (sign * requests * this.#weight.get(id)!) / w);
  }

  /**
   * One window: spread hot shards (hottest first), then bounded-load moves off overloaded nodes,
   * then un-spreads and reverts of shards that cooled; at most `maxMovesPerWindow` in all.
   */
  step(snapshot: LoadSnapshot): StepResult {
    const { epsilon, margin, spreadThreshold, maxReaders, maxMovesPerWindow, minWindowRequests } = this.settings;
    const loads = this.loadsOf(snapshot);
    const model = this.model(snapshot);
    const total = model.total;
    const W = this.#totalWeight;
    let moves = 0;
    let deferred = 0;
    const budgetLeft = (): boolean => moves < maxMovesPerWindow;
    /** Load over weight share each of `k` readers takes from a shard of `r` requests (the same for all, by the weighted split). */
    const heat = (r: number, ids: readonly string[], k: number): number => {
      const w = this.#weightOf(ids, k);
      return total > 0 && w > 0 ? (r * W) / (total * w) : 0;
    };
    const setState = (shard: number, r: number, next: ShardState | undefined): void => {
      this.#spreadLoad(model, r, this.owners(shard), this.readers(shard), -1);
      if (next === undefined || (next.readers === 1 && sameList(next.owners, this.map.owners[shard] ?? []))) this.state.delete(shard);
      else this.state.set(shard, next);
      this.#spreadLoad(model, r, this.owners(shard), this.readers(shard), 1);
      moves++;
    };

    // Too few requests in the window (total is per second) to tell a hot shard from chance, and no
    // node worth protecting: judged as no load, so every changed shard goes back to plain
    // rendezvous, coolest first, within the churn budget.
    if ((total * snapshot.windowMs) / 1000 < minWindowRequests) {
      const changed = [...this.state.keys()].map((sh) => [sh, loads.get(sh) ?? 0] as const).sort((a, b) => a[1] - b[1] || a[0] - b[0]);
      for (const [shard, r] of changed) {
        if (budgetLeft()) setState(shard, r, undefined);
        else deferred++;
      }
      return { moves, deferred };
    }

    // Hottest first, ties by shard: the order every replica applies the budget in.
    const hottest = [...loads.entries()].sort((a, b) => b[1] - a[1] || a[0] - b[0]);

    // 1. Spread: a shard above the threshold at its current readers gets the fewest more readers that bring it under.
    // Candidates are every serving endpoint, the shard's owners first; computing their rendezvous
    // order costs a score per endpoint, so it is done only for shards that may be spread: none
    // after the first shard that would stay under the threshold even on the lightest node alone
    // (shards come hottest first), and none whose current readers keep it under.
    const cap = Math.min(maxReaders, this.ids.length);
    const lightest = Math.min(...this.ids.map((id) => this.#weight.get(id)!));
    for (const [shard, r] of hottest) {
      if (!(total > 0) || (r * W) / (total * lightest) <= spreadThreshold) break;
      const k = this.readers(shard);
      if (k >= cap) continue;
      const current = this.owners(shard).filter((id) => this.#weight.has(id));
      if (current.length >= k && heat(r, current, k) <= spreadThreshold) continue;
      const cands = this.candidates(shard);
      if (heat(r, cands, k) <= spreadThreshold) continue;
      let next = k + 1;
      while (next < cap && heat(r, cands, next) > spreadThreshold) next++;
      if (!budgetLeft()) {
        deferred++;
        continue;
      }
      const h1 = heat(r, cands, 1);
      setState(shard, r, {
        owners: cands.slice(0, Math.max(next, this.owners(shard).length)),
        readers: next,
        reason: 'spread',
        explanation:
          `alone ${fmt(h1)}x its primary's weight share (spread above ${spreadThreshold}x): ` +
          `spread to ${next} readers, ${fmt(heat(r, cands, next))}x of each one's share`,
      });
    }

    // 2. Bounded load: the busiest node above (1 + epsilon + margin) x its share sheds the hottest
    // shards it leads alone to the first next owner in rendezvous order that stays under the bound.
    // Hysteresis around the bound: a node sheds only above bound + margin, a receiver must stay
    // within the bound, and a moved shard goes back (step 3) only when its rendezvous primary stays
    // within bound - margin. Judged loads are means of noisy windows; without the band a node whose
    // ratio sits near the bound would shed in one window and take the shard back in the next.
    const bound = 1 + epsilon;
    const shedAbove = bound + margin;
    const backAtMost = bound - margin;
    const stuck = new Set<string>();
    for (;;) {
      let worst: string | undefined;
      for (const id of this.ids) {
        if (stuck.has(id) || model.ratio(id) <= shedAbove) continue;
        if (worst === undefined || model.ratio(id) > model.ratio(worst)) worst = id;
      }
      if (worst === undefined) break;
      if (!budgetLeft()) {
        for (const id of this.ids) if (!stuck.has(id) && model.ratio(id) > shedAbove) deferred++;
        break;
      }
      const before = model.ratio(worst);
      let moved = false;
      for (const [shard, r] of hottest) {
        if (this.readers(shard) !== 1 || this.owners(shard)[0] !== worst) continue;
        const cands = this.candidates(shard);
        const reach = Math.min(cands.length, Math.max(this.map.policy.replicas, maxReaders) + 1);
        for (let i = 1; i < reach; i++) {
          const to = cands[i]!;
          if (((model.load.get(to) ?? 0) + r) / model.share(to) > bound) continue;
          // The former owners stay, after the new primary: failover targets and the warm-up source.
          const owners = [to, ...this.owners(shard).filter((id) => id !== to)];
          const back = this.map.owners[shard]?.[0] === to;
          setState(shard, r, {
            owners,
            readers: 1,
            reason: 'bounded-load',
            explanation: back
              ? `back on its rendezvous primary ${to}`
              : `node ${worst} at ${fmt(before)}x its weight share (sheds above ${fmt(shedAbove)}x): primary moved to ${to}, next in rendezvous order`,
          });
          moved = true;
          break;
        }
        if (moved) break;
      }
      if (!moved) stuck.add(worst);
    }

    // 3. Cooling: un-spread below half the threshold, revert a moved primary when its rendezvous
    // primary stays within (1 + epsilon - margin) x its share, or within the bound when the shard's
    // current primary is above it; coolest first, ties by shard.
    const coolest = [...this.state.keys()].map((s) => [s, loads.get(s) ?? 0] as const).sort((a, b) => a[1] - b[1] || a[0] - b[0]);
    for (const [shard, r] of coolest) {
      const cur = this.state.get(shard)!;
      const owners = cur.owners;
      if (cur.readers > 1) {
        let next = cur.readers;
        while (next > 1 && heat(r, owners, next - 1) < spreadThreshold / 2) next--;
        if (next === cur.readers) continue;
        if (!budgetLeft()) {
          deferred++;
          continue;
        }
        const plain = this.map.owners[shard] ?? [];
        const keep = next === 1 && owners[0] === plain[0] ? plain : owners.slice(0, Math.max(next, plain.length));
        setState(shard, r, {
          owners: keep,
          readers: next,
          reason: next > 1 ? 'spread' : 'bounded-load',
          explanation: next > 1 ? `${cur.explanation}; cooled to ${next} readers` : `cooled: ${cur.explanation}`,
        });
        continue;
      }
      const home = this.map.owners[shard]?.[0];
      if (home === undefined || !this.#weight.has(home)) continue;
      const after = total > 0 ? ((model.load.get(home) ?? 0) + r) / model.share(home) : 0;
      // A move is kept while its home would still be above bound - margin with the shard back and
      // its new primary is within the bound; once the new primary is above the bound, the shard
      // goes back if home stays within it (so kept moves never leave a node above the bound that
      // plain rendezvous would not).
      const holder = cur.owners[0];
      const holderOver = holder !== undefined && holder !== home && model.ratio(holder) > bound;
      if (after > backAtMost && !(holderOver && after <= bound)) continue;
      if (!budgetLeft()) {
        deferred++;
        continue;
      }
      setState(shard, r, undefined);
    }
    return { moves, deferred };
  }
}

function sameList(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}
