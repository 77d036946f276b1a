/**
 * The hot-shard decision kept from one window to the next (docs/hot-shards.md "Hysteresis"): the
 * same decision as decideHotShards, whose replay steps over one to two replay periods of windows
 * every time, taking only the new windows' steps when nothing it read before has changed, and
 * starting the next anchor period from the replays it already holds. Memory of a computation, not
 * of state: the decision stays a function of the snapshots, so replicas still agree whether or not
 * they kept it, and anything unexpected (another map, other settings, a late report that changed
 * a window already read, a window gone, decisions skipped across more than one anchor move)
 * replays from the anchor as decideHotShards does.
 */
import type { HotShardDecision, HotShardSettings, LoadSnapshot } from '../core/load.js';
import type { ShardMap } from '../core/shard-map.js';
import { canonicalSnapshots, heldWindows, replayAnchors, replayStarts, sameAnchors } from './hot-shard-history.js';
import { AnchoredReplay, decideHotShards } from './hot-shards.js';

/**
 * Keeps one map's replays between the runner's once-per-window decisions (docs/hot-shards.md
 * "Hysteresis"); dropping it changes nothing but the cost of the next decision.
 */
export class HotShardDecider {
  /** Replays begun from their anchor (the rest took only the new windows' steps): for tests and the decision-time benchmark. */
  replaysBegun = 0;
  #replay: AnchoredReplay | undefined;
  #settings = '';
  /** The windows the replay has read, oldest first: from `#readFrom` to the last stepped on. */
  #read: readonly LoadSnapshot[] = [];
  /** Start ms of the first window the replays may judge (judgedFrom), held or not. */
  #readFrom = Infinity;

  /** decideHotShards(map, snapshots, settings), from the previous call's replays where they still hold. */
  decide(map: ShardMap, snapshots: readonly LoadSnapshot[], settings: HotShardSettings): HotShardDecision {
    const windows = canonicalSnapshots(snapshots, heldWindows(settings));
    if (!settings.enabled || windows.length === 0 || map.owners.length === 0 || settings.replayWindows <= 0) {
      this.#replay = undefined;
      return decideHotShards(map, snapshots, settings);
    }
    const replay = this.#kept(map, windows, settings) ?? this.#begin(map, windows, settings);
    replay.advance(windows);
    this.#readFrom = judgedFrom(windows, settings);
    this.#read = windows.filter((w) => w.windowStartMs >= this.#readFrom);
    return replay.decision();
  }

  #begin(map: ShardMap, windows: readonly LoadSnapshot[], settings: HotShardSettings): AnchoredReplay {
    this.replaysBegun++;
    this.#replay = AnchoredReplay.begin(map, windows, settings, true);
    this.#settings = JSON.stringify(settings);
    return this.#replay;
  }

  /** The replays held, or their successor where the anchor moved by one period, if `windows` holds what they read. */
  #kept(map: ShardMap, windows: readonly LoadSnapshot[], settings: HotShardSettings): AnchoredReplay | undefined {
    const replay = this.#replay;
    if (replay === undefined || replay.map !== map || JSON.stringify(settings) !== this.#settings || this.#read.length === 0) return undefined;
    const anchors = replayAnchors(windows, settings.replayWindows);
    if (sameAnchors(anchors, replay.anchors)) return this.#readUnchanged(replay, windows, this.#readFrom) ? replay : undefined;
    // The anchor moved: the successor's replays read from the first window its previous replay judges.
    if (!this.#readUnchanged(replay, windows, judgedFrom(windows, settings))) return undefined;
    const next = replay.successor(anchors, windows.slice(0, replayStarts(windows, settings.replayWindows).switched));
    if (next) this.#replay = next;
    return next;
  }

  /** From window start `from` on, `windows` holds exactly the windows the replay read, up to the last it stepped on. */
  #readUnchanged(replay: AnchoredReplay, windows: readonly LoadSnapshot[], from: number): boolean {
    const read = this.#read.filter((w) => w.windowStartMs >= from);
    const now = windows.filter((w) => w.windowStartMs >= from && w.windowStartMs <= replay.lastStepped);
    return read.length > 0 && now.length === read.length && now.every((w, i) => sameSnapshot(w, read[i]!));
  }
}

/**
 * Start ms of the first window the replays of `windows` may judge: `historyWindows - 1` windows
 * before the previous replay's first one, whether that window is held or not. Counted from the
 * windows held instead, a window the replays read that has since left the span (the span ends at
 * now, and the newest window may have no data yet) or one that arrives late at its start would
 * go unseen, and the replays kept would judge other windows than a whole replay does.
 */
function judgedFrom(windows: readonly LoadSnapshot[], settings: HotShardSettings): number {
  const first = windows[replayStarts(windows, settings.replayWindows).previous]!;
  return first.windowStartMs - (Math.max(1, settings.historyWindows) - 1) * first.windowMs;
}

/** Same window and the same figures (snapshots are sorted by shard and by node id). */
function sameSnapshot(a: LoadSnapshot, b: LoadSnapshot): boolean {
  if (a === b) return true;
  if (a.windowStartMs !== b.windowStartMs || a.windowMs !== b.windowMs || a.shards.length !== b.shards.length || a.nodes.length !== b.nodes.length) return false;
  for (let i = 0; i < a.shards.length; i++) {
    if (a.shards[i]!.shard !== b.shards[i]!.shard || !Object.is(a.shards[i]!.requests, b.shards[i]!.requests)) return false;
  }
  for (let i = 0; i < a.nodes.length; i++) {
    if (a.nodes[i]!.nodeId !== b.nodes[i]!.nodeId || !Object.is(a.nodes[i]!.requests, b.nodes[i]!.requests)) return false;
  }
  return true;
}
