import { DEFAULT_HOT_SHARD_SETTINGS, type HotShardSettings } from '../../src/core/load.js';

/**
 * The hot-shard benchmark's settings (docs/benchmarks.md "Hot shards"): hot.ts runs them with real
 * Envoy and nodes, placement-sim.ts and hot-l1-sim.ts replay the same stream and spans offline,
 * so all read them here.
 */

export type Weighting = 'equal' | 'weighted';
export const WEIGHTINGS: Record<Weighting, readonly number[]> = { equal: [1, 1, 1, 1, 1, 1, 1, 1], weighted: [1, 1, 2, 2, 4, 4, 8, 8] };
export type LoadName = 'zipf-0.8' | 'zipf-1.2' | 'zipf-1.0' | 'burst';

export interface Settings {
  readonly keys: number;
  readonly l1PerNode: number;
  readonly shards: number;
  readonly loads: readonly LoadName[];
  /** Requests before each measured span (the first span: `firstWarmup`), the same for every variant. */
  readonly warmup: number;
  readonly firstWarmup: number;
  /** ... paced over this long: keyway-hot's history (6 windows of `windowMs`) and one window more. */
  readonly warmupMinMs: number;
  /** Requests measured per span, at `rate`. */
  readonly measured: number;
  readonly rate: number;
  readonly concurrency: number;
  /** hotShards.windowMs and the nodes' load window. */
  readonly windowMs: number;
  /** The burst key's share of requests. */
  readonly burstShare: number;
  /**
   * A second measured span of each Zipf load (phase `steady`) starting this long after the load
   * began (0: none), once keyway-hot's replay no longer reaches back to the load before.
   */
  readonly steadyAfterMs: number;
  readonly seed: number;
}

export const FULL: Settings = {
  keys: 20_000,
  l1PerNode: 400,
  shards: 1024,
  loads: ['zipf-0.8', 'zipf-1.2', 'zipf-1.0', 'burst'],
  warmup: 7_000,
  firstWarmup: 10_000,
  warmupMinMs: 7_000,
  measured: 8_000,
  rate: 700,
  concurrency: 16,
  windowMs: 1_000,
  burstShare: 0.2,
  // The replay reads the history (6 windows) and up to two periods (2 x 24 windows) before it:
  // 54 windows after the switch no decision judges the previous load any more.
  steadyAfterMs: 55_000,
  seed: 20_261_202,
};

export const QUICK: Settings = { ...FULL, keys: 10_000, l1PerNode: 300, loads: ['zipf-1.0', 'burst'], firstWarmup: 5_000, warmup: 2_000, warmupMinMs: 7_000, measured: 2_500, steadyAfterMs: 0 };

/**
 * The first draw of a load's steady span, given the end of its first span: the warm-up's and the
 * first span's draws, then the rate's draws until `steadyAfterMs` after the load began.
 */
export function steadySpanFrom(s: Settings, firstSpanEnd: number): number {
  return firstSpanEnd + Math.max(0, Math.round((s.rate * (s.steadyAfterMs - s.warmupMinMs)) / 1000) - s.measured);
}

/** A measured span of draws, [from, to). */
export interface DrawSpan {
  readonly from: number;
  readonly to: number;
}

/**
 * The first and steady spans of a load that begins at draw `loadStart` after `warmup` warm-up
 * draws: the draws hot.ts measures, for the offline replays to measure the same.
 */
export function measuredSpans(s: Settings, loadStart: number, warmup: number): { first: DrawSpan; steady: DrawSpan } {
  const first = { from: loadStart + warmup, to: loadStart + warmup + s.measured };
  const from = steadySpanFrom(s, first.to);
  return { first, steady: { from, to: from + s.measured } };
}

/**
 * A node's L1 entries: its weight's part of the fleet's total (weights.length x l1PerNode), since
 * a weight is the node's cache capacity (docs/architecture.md).
 */
export function l1Capacity(s: Settings, weights: readonly number[], weight: number): number {
  const total = weights.reduce((a, b) => a + b, 0);
  return Math.max(1, Math.round((s.l1PerNode * weights.length * weight) / total));
}

/**
 * The policy's default settings with load windows of `windowMs` and `--set key=value,...`
 * overrides (numbers), for the offline simulations (hot-policy-sim.ts, hot-l1-sim.ts).
 * @throws Error naming the pair when a key is not a hotShards setting or the value is not a number
 */
export function hotSettingsWith(overrides: string | undefined, windowMs: number): HotShardSettings {
  const s: Record<string, unknown> = { ...DEFAULT_HOT_SHARD_SETTINGS, windowMs };
  for (const kv of (overrides ?? '').split(',').filter(Boolean)) {
    const [k, v] = kv.split('=');
    if (!k || v === undefined || !(k in s) || !Number.isFinite(Number(v))) throw new Error(`--set ${kv}: expected key=number with a hotShards key`);
    s[k] = Number(v);
  }
  return s as unknown as HotShardSettings;
}
