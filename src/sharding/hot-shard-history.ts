/**
 * The load windows the hot-shard policy reads, and which of them each step of its replay judges
 * (docs/hot-shards.md "The algorithm"). Pure bookkeeping on window numbers, so every replica that
 * holds the same snapshots replays the same steps.
 */
import type { HotShardSettings, LoadSnapshot } from '../core/load.js';
import { compareStrings } from '../core/order.js';

/**
 * How many windows of snapshots the policy reads: the judged history, and with a replay the three
 * replay periods before the newest window (the replay in force starts at most 2 x replayWindows - 1
 * windows back, the one before it, whose last decision the catch-up starts from, replayWindows
 * earlier, and a replay's first step judges the `historyWindows` windows up to there). The load
 * driver asks its source for this many.
 */
export function heldWindows(settings: Pick<HotShardSettings, 'historyWindows' | 'replayWindows'>): number {
  const h = Math.max(1, settings.historyWindows);
  return settings.replayWindows > 0 ? h + 3 * settings.replayWindows - 1 : h;
}

/** Oldest first, one snapshot per window (a repeated window keeps its greatest canonical form), the last `keep`. */
export function canonicalSnapshots(snapshots: readonly LoadSnapshot[], keep: number): LoadSnapshot[] {
  const byWindow = new Map<number, LoadSnapshot[]>();
  for (const snap of snapshots) {
    if (!Number.isFinite(snap.windowStartMs)) continue;
    const same = byWindow.get(snap.windowStartMs);
    if (same) same.push(snap);
    else byWindow.set(snap.windowStartMs, [snap]);
  }
  // The canonical form is built only for a window given more than once: it is most of the cost,
  // and a source gives each window once.
  const one = (same: readonly LoadSnapshot[]): LoadSnapshot => {
    if (same.length === 1) return same[0]!;
    let best = same[0]!;
    let bestKey = canonicalForm(best);
    for (const snap of same.slice(1)) {
      const key = canonicalForm(snap);
      if (key > bestKey) [best, bestKey] = [snap, key];
    }
    return best;
  };
  const sorted = [...byWindow.entries()].sort((a, b) => a[0] - b[0]).map(([, same]) => one(same));
  return sorted.slice(Math.max(0, sorted.length - Math.max(1, keep)));
}

/** A snapshot's figures as one string, entries sorted: equal for equal content in any order. */
function canonicalForm(snap: LoadSnapshot): string {
  return JSON.stringify([
    [...snap.shards].map((s) => [s.shard, s.requests]).sort((a, b) => a[0]! - b[0]! || a[1]! - b[1]!),
    [...snap.nodes].map((n) => [n.nodeId, n.requests]).sort((a, b) => compareStrings(String(a[0]), String(b[0])) || Number(a[1]) - Number(b[1])),
  ]);
}

/**
 * Index in `windows` (canonical, oldest first) of the first window the replay steps on.
 *
 * Why an anchor on window numbers: the decision replays the policy window by window from plain
 * rendezvous, so each step keeps what the previous one decided (hysteresis). If the replay began
 * at the oldest window held, the start would move with every new window, and two consecutive
 * decisions would come from two replays begun one window apart, which need not end in the same
 * state: hysteresis keeps whichever of several equally good moves a replay made first. Anchored
 * on window numbers (multiples of `replayWindows` since the epoch, the same on every replica),
 * the replay begins at the same window for `replayWindows` windows in a row, so each decision is
 * exactly the previous one plus one step; the anchor moves forward by a whole period only when
 * the replay from the new anchor has already run `replayWindows` windows, so both replays have
 * seen the same load for that long. `replayWindows: 0`: no replay (see decideHotShards).
 */
export function replayStart(windows: readonly LoadSnapshot[], replayWindows: number): number {
  if (windows.length === 0 || replayWindows <= 0) return Math.max(0, windows.length - 1);
  const newest = windows[windows.length - 1]!;
  const n = windowNumber(newest);
  const anchor = replayWindows * Math.floor(n / replayWindows) - replayWindows;
  const i = windows.findIndex((w) => windowNumber(w) >= anchor);
  return i < 0 ? windows.length - 1 : i;
}

/**
 * Where the two replays of an anchored decision begin (indices in `windows`, canonical, oldest
 * first; replayWindows > 0): `current`, the replay in force (replayStart); `previous`, the replay
 * in force before the anchor last moved, which ran up to the window before `switched`, the first
 * window decided by the current replay. `previous === switched` when no window of the previous
 * replay is held (its decision was plain rendezvous, as far as these windows tell).
 */
export function replayStarts(windows: readonly LoadSnapshot[], replayWindows: number): { previous: number; current: number; switched: number } {
  const n = windowNumber(windows[windows.length - 1]!);
  const switchedAt = replayWindows * Math.floor(n / replayWindows);
  const from = (number: number): number => {
    const i = windows.findIndex((w) => windowNumber(w) >= number);
    return i < 0 ? windows.length - 1 : i;
  };
  return { previous: from(switchedAt - 2 * replayWindows), current: from(switchedAt - replayWindows), switched: from(switchedAt) };
}

/** Where an anchored decision's replays begin: window start ms (replayStarts). */
export interface ReplayAnchors {
  /** The previous replay's first window. */
  readonly previous: number;
  /** The replay in force's first window. */
  readonly current: number;
  /** The first window the replay in force decides (the previous one decided up to the window before). */
  readonly switched: number;
}

/** The anchors of `windows` (canonical, not empty), as window start ms. */
export function replayAnchors(windows: readonly LoadSnapshot[], replayWindows: number): ReplayAnchors {
  const { previous, current, switched } = replayStarts(windows, replayWindows);
  return { previous: windows[previous]!.windowStartMs, current: windows[current]!.windowStartMs, switched: windows[switched]!.windowStartMs };
}

/** The same anchors: the replays that begin at them read the same windows from the same starts. */
export function sameAnchors(a: ReplayAnchors, b: ReplayAnchors): boolean {
  return a.previous === b.previous && a.current === b.current && a.switched === b.switched;
}

/**
 * The history step `k` of the replay judges: the windows among `windows[0..k]` within the
 * `historyWindows` window numbers that end with `windows[k]`'s, as a snapshot source reading
 * `historyWindows` windows at that time would give them (windows without data are missing).
 */
export function historyUpTo(windows: readonly LoadSnapshot[], k: number, historyWindows: number): LoadSnapshot[] {
  const newest = windowNumber(windows[k]!);
  let from = k;
  while (from > 0 && windowNumber(windows[from - 1]!) > newest - Math.max(1, historyWindows)) from--;
  return windows.slice(from, k + 1);
}

/** A window's number since the epoch (windows are aligned to multiples of their length). */
function windowNumber(w: LoadSnapshot): number {
  return w.windowMs > 0 ? Math.floor(w.windowStartMs / w.windowMs) : 0;
}

/** Windows of the recent mean: a shard that turns hot is judged on them before the history's mean catches up. */
const RECENT_WINDOWS = 2;

/**
 * How far, in standard deviations of a Poisson count, a shard's requests in the last
 * RECENT_WINDOWS must exceed what its history's mean predicts before the recent mean is judged
 * instead (docs/hot-shards.md "The algorithm"). Without it, a shard with a few requests per window
 * was judged at whichever of the two means chance made larger: every cold shard's load came out
 * high, and each node's wobbled with its cold shards' last two windows, so a stationary stream
 * kept moving shards and giving them back. A shard that turns hot is still seen at once: from
 * nothing, with the default history of 6 windows, 4 requests a window in each of the last two
 * windows clear it (7 in the last one alone).
 */
export const RECENT_SIGNIFICANCE = 3;

/**
 * The history as one snapshot (the newest window's start): each shard's requests per second are
 * its mean over every window, or its mean over the last RECENT_WINDOWS when that is higher beyond
 * chance (judgedRate; a window that does not list a shard counts it as 0); nodes get their mean
 * over every window. So heat is seen within a couple of windows, and cooling waits for the whole
 * history: hysteresis in time.
 */
export function meanSnapshot(windows: readonly LoadSnapshot[]): LoadSnapshot {
  const n = windows.length;
  const recentFrom = Math.max(0, n - RECENT_WINDOWS);
  const all = new Map<number, number>();
  const recent = new Map<number, number>();
  const nodes = new Map<string, number>();
  windows.forEach((w, i) => {
    for (const [shard, r] of inSumOrder(w.shards.map((s) => [s.shard, usable(s.requests)] as const), (a, b) => a - b)) {
      all.set(shard, (all.get(shard) ?? 0) + r);
      if (i >= recentFrom) recent.set(shard, (recent.get(shard) ?? 0) + r);
    }
    for (const [id, r] of inSumOrder(w.nodes.map((x) => [x.nodeId, usable(x.requests)] as const), compareStrings)) nodes.set(id, (nodes.get(id) ?? 0) + r);
  });
  const newest = windows[n - 1]!;
  const recentSeconds = ((n - recentFrom) * newest.windowMs) / 1000;
  return {
    ...newest,
    shards: [...all.entries()]
      .sort((a, b) => a[0] - b[0])
      .map(([shard, r]) => ({ shard, requests: judgedRate(r / n, (recent.get(shard) ?? 0) / (n - recentFrom), recentSeconds) })),
    nodes: [...nodes.entries()].sort((a, b) => compareStrings(a[0], b[0])).map(([nodeId, r]) => ({ nodeId, requests: r / n })),
  };
}

/**
 * A shard's judged rate: `recent`, its mean over the last `seconds`, when the requests counted in
 * them exceed what `mean` predicts by more than RECENT_SIGNIFICANCE standard deviations (Poisson:
 * the square root of the expected count), else `mean`. Compared squared: products and
 * differences only, so every replica gets the same answer from the same windows.
 */
export function judgedRate(mean: number, recent: number, seconds: number): number {
  if (!(recent > mean)) return mean;
  const expected = mean * seconds;
  const excess = recent * seconds - expected;
  return excess * excess > RECENT_SIGNIFICANCE * RECENT_SIGNIFICANCE * expected ? recent : mean;
}

/**
 * A window's entries in the order their rates are added up: as given when no key repeats (a
 * source lists each shard and node once, sorted), else sorted by key, then rate. Floating-point
 * addition is not associative, so repeats added in the order they arrived would give replicas
 * reading the same window in another order sums a bit apart, and decisions that differ.
 */
function inSumOrder<K>(entries: (readonly [K, number])[], compare: (a: K, b: K) => number): (readonly [K, number])[] {
  for (let i = 1; i < entries.length; i++) {
    if (compare(entries[i - 1]![0], entries[i]![0]) >= 0) return entries.sort((a, b) => compare(a[0], b[0]) || a[1] - b[1]);
  }
  return entries;
}

/**
 * Largest rate, in requests per second, the policy reads from a snapshot entry; more counts as this
 * much. Far above any fleet, and low enough that the model's sums over shards and windows, and
 * their products with endpoint weights, stay finite: near Number.MAX_VALUE (a snapshot file, a
 * Prometheus series) two rates added are Infinity and every ratio NaN.
 */
export const MAX_JUDGED_RATE = 1e12;

/** A finite positive rate, at most MAX_JUDGED_RATE, else 0. */
export function usable(x: number): number {
  return Number.isFinite(x) && x > 0 ? Math.min(x, MAX_JUDGED_RATE) : 0;
}
