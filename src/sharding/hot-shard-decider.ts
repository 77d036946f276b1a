/**
 * The hot-shard decision kept from one window to the next (docs/hot-shards.md "Hysteresis"): the same
 * decision as decideHotShards, whose replay steps over one to two replay periods of windows every
 * time, taking only the new windows' steps when nothing it read before has changed. Memory of a
 * computation, not of state: the decision stays a function of the snapshots, so replicas still
 * agree whether or not they kept it, and anything unexpected (another map, other settings, a late
 * report that changed a window already read, a window gone) replays from the anchor as before.
 */
import type { HotShardDecision, HotShardSettings, LoadSnapshot } from '../core/load.js';
import type { ShardMap } from '../core/shard-map.js';
import { canonicalSnapshots, heldWindows, historyUpTo, replayStarts } from './hot-shard-history.js';
import { AnchoredReplay, decideHotShards } from './hot-shards.js';

export class HotShardDecider {
  /** Replays begun from their anchor (the rest took only the new windows' steps): for tests and the decision-time benchmark. */
  replaysBegun = 0;
  #replay: AnchoredReplay | undefined;
  #settings = '';
  /** The windows the replay has read, oldest first: from the first its previous replay judged to the last stepped on. */
  #read: readonly LoadSnapshot[] = [];

  /** decideHotShards(map, snapshots, settings), from the previous call's replay where it still holds. */
  decide(map: ShardMap, snapshots: readonly LoadSnapshot[], settings: HotShardSettings): HotShardDecision {
    const windows = canonicalSnapshots(snapshots, heldWindows(settings));
    if (!settings.enabled || windows.length === 0 || map.owners.length === 0 || settings.replayWindows <= 0) {
      this.#replay = undefined;
      return decideHotShards(map, snapshots, settings);
    }
    const key = JSON.stringify(settings);
    let replay = this.#replay;
    if (replay === undefined || replay.map !== map || key !== this.#settings || !this.#sameRead(replay, windows, settings.replayWindows)) {
      replay = new AnchoredReplay(map, windows, settings);
      this.replaysBegun++;
      this.#replay = replay;
      this.#settings = key;
    }
    replay.advance(windows);
    const from = historyUpTo(windows, replayStarts(windows, settings.replayWindows).previous, settings.historyWindows)[0]!.windowStartMs;
    this.#read = windows.filter((w) => w.windowStartMs >= from);
    return replay.decision();
  }

  /** The replay's anchors are those of `windows`, and `windows` holds exactly what it read up to its last step. */
  #sameRead(replay: AnchoredReplay, windows: readonly LoadSnapshot[], replayWindows: number): boolean {
    const { previous, current, switched } = replayStarts(windows, replayWindows);
    const a = replay.anchors;
    if (windows[previous]!.windowStartMs !== a.previous || windows[current]!.windowStartMs !== a.current || windows[switched]!.windowStartMs !== a.switched) return false;
    const read = this.#read;
    if (read.length === 0) return false;
    const now = windows.filter((w) => w.windowStartMs >= read[0]!.windowStartMs && w.windowStartMs <= replay.lastStepped);
    return now.length === read.length && now.every((w, i) => sameSnapshot(w, read[i]!));
  }
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
