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
import type { HotShard, HotShardDecision, HotShardSettings, LoadSnapshot } from '../core/load.js';
import type { ShardMap } from '../core/shard-map.js';
import { catchUpStep, sameShardState, type CatchUpStep } from './hot-shard-catch-up.js';
import { HotShardFold, round3, type ShardState, type StepResult } from './hot-shard-fold.js';
import { canonicalSnapshots, heldWindows, historyUpTo, meanSnapshot, replayAnchors, replayStart, replayStarts, type ReplayAnchors } from './hot-shard-history.js';

export { heldWindows } from './hot-shard-history.js';

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
  /** The previous replay's last state, as the catch-up began from it (for the explanations). */
  readonly #before: ReadonlyMap<number, ShardState>;
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
    this.#before = new Map(published.state);
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
   * replay in force, and its replay in force the one this stepped from the switch on.
   * `beforeSwitch`: the windows before `anchors.switched`; those not stepped on yet (decisions
   * skipped before the anchor moved) are stepped on first. Undefined unless the anchor moved by
   * one period and this had a successor to keep; the caller checks that the windows read are the same.
   */
  successor(anchors: ReplayAnchors, beforeSwitch: readonly LoadSnapshot[]): AnchoredReplay | undefined {
    const last = beforeSwitch.at(-1)?.windowStartMs;
    if (this.#next === undefined || anchors.previous !== this.anchors.current || anchors.current !== this.anchors.switched || last === undefined) return undefined;
    if (last > this.lastStepped) this.advance(beforeSwitch);
    if (last !== this.lastStepped) return undefined;
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
      if (sameShardState(st, this.#fold.state.get(shard))) {
        out.state.set(shard, st);
        continue;
      }
      // Held back by the budget: the previous replay's state, or one the new replay had at an
      // earlier window of the catch-up and has changed since.
      const from = sameShardState(st, this.#before.get(shard)) ? "kept from the decision before the replay's anchor moved" : 'kept from an earlier step of the replay while the decision catches up after its anchor moved';
      out.state.set(shard, { ...st, explanation: `${st.explanation}; ${from} (churn budget)` });
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
