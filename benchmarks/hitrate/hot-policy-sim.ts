/**
 * The hot-shard policy alone, on a stream of load windows (docs/benchmarks.md "Hot shards"):
 * `node --import tsx benchmarks/hitrate/hot-policy-sim.ts [--set key=value,...] [--start anchored|sliding] [--windows N] [--seeds N] [--out FILE]`.
 *
 * No Envoy, no cache nodes: the benchmark's workload (20000 keys, Zipf 1.0, S = 1024, R = 2,
 * 700 requests per 1 s window, 8 nodes equal or weighted 1,1,2,2,4,4,8,8) is sampled window by
 * window with a seeded generator, each window's counts become a snapshot as the local source makes
 * them (quantized requests per second), and the policy decides after every window from the
 * windows a replica would hold. Per fleet it prints:
 * - **changes/window**: shards whose owners or readers differ between consecutive decisions
 *   (what `keyway_hot_shard_moves_total` counts), mean over the steady windows, and the share of
 *   windows with any change;
 * - **max load**: the busiest node's modelled load over its weight share under the expected
 *   (exact Zipf) load, mean and worst over the steady windows; and over 11-window spans of the
 *   sampled requests (what the benchmark measures), mean and worst;
 * - **burst**: a cold key takes 20 % of the requests from window B: windows until its shard has
 *   more than one reader, and the modelled max load 2 and 6 windows in;
 * - **cooled**: after the burst stops, windows until its shard is back to plain rendezvous.
 * `--set` overrides hotShards settings (e.g. `--set replayWindows=0,epsilon=0.1,margin=0`: the
 * policy before the replay), so figures before and after a change come from the same stream.
 * `--start sliding` begins the replay at the oldest window with a full history instead of the
 * anchor, to show what the anchor is for; `--start jump` takes the anchored replay without the
 * catch-up after an anchor move (docs/hot-shards.md "Churn budget"), to show what that is for. The
 * changes in windows where the anchor moved are given as a share of all changes, and the most
 * shards one window changed (steady, burst and cooling windows) beside the windows that changed
 * more than `maxMovesPerWindow`.
 * The windows are numbered from a fixed epoch offset, so anchor moves fall on the same windows in
 * every run.
 */
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import type { HotShardDecision, LoadSnapshot } from '../../src/core/load.js';
import { applyHotShards, computeShardMap, decideHotShards, hotShardChanges, keyToShard, modelledLoadRatios, type ShardMap } from '../../src/sharding/index.js';
import { heldWindows, replayHotShards } from '../../src/sharding/hot-shards.js';
import { replayStart } from '../../src/sharding/hot-shard-history.js';
import { cacheNodes } from '../../test/sharding/hot-shards-fixtures.js';
import { hotSettingsWith } from './hot-settings.js';
import { seededRandom, ZipfSampler } from './zipf.js';

const KEYS = 20_000;
const S = 1024;
const RATE = 700;
const WINDOW_MS = 1000;
const BASE_MS = 1_800_000_000_000;
const FLEETS = { equal: [1], weighted: [1, 1, 2, 2, 4, 4, 8, 8] } as const;
const BURST_SHARE = 0.2;
/** The key the burst makes hot: the coldest one, so its shard is nobody's concern before. */
const BURST_KEY = `item:${KEYS - 1}`;

const { values } = parseArgs({
  options: {
    set: { type: 'string' },
    windows: { type: 'string', default: '240' },
    seeds: { type: 'string', default: '3' },
    start: { type: 'string', default: 'anchored' },
    sequence: { type: 'boolean' },
    out: { type: 'string' },
  },
});

const settings = hotSettingsWith(values.set, WINDOW_MS);
const steadyWindows = Number(values.windows);
const seeds = Number(values.seeds);

/** Expected requests per second by shard, Zipf 1.0 over the keys, plus the burst key's share when on. */
function expectedLoads(burst: boolean): Map<number, number> {
  let h = 0;
  for (let r = 0; r < KEYS; r++) h += 1 / (r + 1);
  const scale = burst ? RATE * (1 - BURST_SHARE) : RATE;
  const out = new Map<number, number>();
  for (let r = 0; r < KEYS; r++) {
    const shard = keyToShard(`item:${r}`, S);
    out.set(shard, (out.get(shard) ?? 0) + scale / (r + 1) / h);
  }
  if (burst) {
    const b = keyToShard(BURST_KEY, S);
    out.set(b, (out.get(b) ?? 0) + RATE * BURST_SHARE);
  }
  return out;
}

function snapshotOfCounts(counts: ReadonlyMap<number, number>, window: number): LoadSnapshot {
  const shards = [...counts.entries()].filter(([, n]) => n > 0).sort((a, b) => a[0] - b[0]).map(([shard, n]) => ({ shard, requests: Number((n / (WINDOW_MS / 1000)).toPrecision(3)) }));
  let total = 0;
  for (const x of shards) total += x.requests;
  return { windowStartMs: BASE_MS + window * WINDOW_MS, windowMs: WINDOW_MS, shards, nodes: [{ nodeId: 'all', requests: total }] };
}

function expectedSnapshot(loads: ReadonlyMap<number, number>): LoadSnapshot {
  return { windowStartMs: BASE_MS, windowMs: WINDOW_MS, shards: [...loads.entries()].sort((a, b) => a[0] - b[0]).map(([shard, requests]) => ({ shard, requests })), nodes: [] };
}

/**
 * The decision `--start` asks for: `anchored` is decideHotShards itself; `sliding` begins the
 * replay at the oldest window with a full history held, so its start moves with every window (what
 * the anchor avoids); `jump` is the anchored replay alone, no catch-up when the anchor moves.
 */
function decide(map: ShardMap, windows: readonly LoadSnapshot[]): HotShardDecision {
  if (values.start === 'sliding') return replayHotShards(map, windows, settings, Math.min(windows.length - 1, settings.historyWindows - 1));
  if (values.start === 'jump') return replayHotShards(map, windows, settings, replayStart(windows, settings.replayWindows));
  return decideHotShards(map, windows, settings);
}

const maxRatio = (map: ShardMap, snap: LoadSnapshot): number => Math.max(...modelledLoadRatios(map, snap).values());
const mean = (xs: readonly number[]): number => (xs.length === 0 ? 0 : xs.reduce((a, b) => a + b, 0) / xs.length);

interface FleetFigures {
  changesPerWindow: number;
  anchorShare: number;
  windowsWithChange: number;
  expectedMaxLoad: { mean: number; worst: number };
  spanMaxLoad: { mean: number; worst: number };
  burstReactWindows: number;
  burstMaxLoad2: number;
  burstMaxLoad6: number;
  cooledWindows: number;
  msPerDecision: number;
  mostChanges: number;
  overBudget: number;
}

/** One stream: warm-up, steady windows, burst, cooling; the policy decides after every window. */
function runStream(weights: readonly number[], seed: number): FleetFigures {
  const map = computeShardMap(cacheNodes(8, weights), { shardCount: S, replicas: 2, spread: 'none' });
  const sampler = new ZipfSampler(KEYS, 1.0, seed);
  const random = seededRandom(seed ^ 0x5bd1e995);
  const shardOfRank = Array.from({ length: KEYS }, (_, r) => keyToShard(`item:${r}`, S));
  const burstShard = keyToShard(BURST_KEY, S);
  const held = heldWindows(settings);
  const windows: LoadSnapshot[] = [];
  let window = 0;
  let decisionMs = 0;
  let decisions = 0;
  let decision: HotShardDecision | undefined;
  /** After the warm-up: the most shards one window changed, and the windows over the churn budget. */
  let counting = false;
  let mostChanges = 0;
  let overBudget = 0;
  /** Samples one window (burst on or off), decides, returns the decision and the window's counts. */
  const next = (burst: boolean): { decision: HotShardDecision; counts: Map<number, number>; changes: number } => {
    const counts = new Map<number, number>();
    for (let i = 0; i < RATE; i++) {
      const shard = burst && random() < BURST_SHARE ? burstShard : shardOfRank[sampler.next()]!;
      counts.set(shard, (counts.get(shard) ?? 0) + 1);
    }
    windows.push(snapshotOfCounts(counts, window++));
    if (windows.length > held) windows.shift();
    const t0 = performance.now();
    const d = decide(map, windows);
    decisionMs += performance.now() - t0;
    decisions++;
    const changes = hotShardChanges(decision, d);
    if (counting) {
      mostChanges = Math.max(mostChanges, changes);
      if (changes > settings.maxMovesPerWindow) overBudget++;
    }
    decision = d;
    return { decision: d, counts, changes };
  };

  const steady = expectedSnapshot(expectedLoads(false));
  const warmup = Math.max(held, 2 * settings.historyWindows) + 4;
  for (let i = 0; i < warmup; i++) next(false);
  counting = true;
  const changes: number[] = [];
  /** Changes in windows where the replay's anchor moved (the window number a multiple of replayWindows). */
  const atAnchor: number[] = [];
  const expected: number[] = [];
  const spans: number[] = [];
  let spanMap: ShardMap[] = [];
  let spanCounts: Map<number, number>[] = [];
  for (let i = 0; i < steadyWindows; i++) {
    const { decision: d, counts, changes: c } = next(false);
    changes.push(c);
    const number = Math.floor((BASE_MS + (window - 1) * WINDOW_MS) / WINDOW_MS);
    if (settings.replayWindows > 0 && number % settings.replayWindows === 0) atAnchor.push(c);
    const applied = applyHotShards(map, d);
    expected.push(maxRatio(applied, steady));
    // The benchmark's measured span: 11 windows of requests, each served under the map in force then.
    spanMap.push(applied);
    spanCounts.push(counts);
    if (spanMap.length === 11) {
      const load = new Map<string, number>();
      spanMap.forEach((m, k) => {
        for (const [id, r] of modelledLoadRatios(m, expectedSnapshot(spanCounts[k]!))) load.set(id, (load.get(id) ?? 0) + r / 11);
      });
      spans.push(Math.max(...load.values()));
      spanMap = [];
      spanCounts = [];
    }
  }

  const burstLoads = expectedSnapshot(expectedLoads(true));
  let react = -1;
  const burstRatios: number[] = [];
  for (let i = 1; i <= 12; i++) {
    const { decision: d } = next(true);
    const h = d.shards.find((x) => x.shard === burstShard);
    if (react < 0 && h !== undefined && h.readers > 1) react = i;
    burstRatios.push(maxRatio(applyHotShards(map, d), burstLoads));
  }
  let cooled = -1;
  for (let i = 1; i <= 120 && cooled < 0; i++) {
    const { decision: d } = next(false);
    if (!d.shards.some((x) => x.shard === burstShard)) cooled = i;
  }
  return {
    changesPerWindow: mean(changes),
    anchorShare: atAnchor.reduce((a, b) => a + b, 0) / Math.max(1, changes.reduce((a, b) => a + b, 0)),
    windowsWithChange: changes.filter((c) => c > 0).length / changes.length,
    expectedMaxLoad: { mean: mean(expected), worst: Math.max(...expected) },
    spanMaxLoad: { mean: mean(spans), worst: Math.max(...spans) },
    burstReactWindows: react,
    burstMaxLoad2: burstRatios[1]!,
    burstMaxLoad6: burstRatios[5]!,
    cooledWindows: cooled,
    msPerDecision: decisionMs / decisions,
    mostChanges,
    overBudget,
  };
}

/**
 * `--sequence`: the benchmark's order of loads on one fleet (Zipf 0.8, 1.2, 1.0, each after 7
 * warm-up windows at ~2000 requests, then 11 measured windows at 700), and the shard changes per
 * measured span; the stream's first window number moves with the seed, so anchor moves fall at
 * different points of the spans.
 */
function runSequence(weights: readonly number[], seed: number): Record<string, number> {
  const map = computeShardMap(cacheNodes(8, weights), { shardCount: S, replicas: 2, spread: 'none' });
  const held = heldWindows(settings);
  const windows: LoadSnapshot[] = [];
  let window = seed * 7;
  let decision: HotShardDecision | undefined;
  const out: Record<string, number> = {};
  const shardOfRank = Array.from({ length: KEYS }, (_, r) => keyToShard(`item:${r}`, S));
  for (const zipf of [0.8, 1.2, 1.0]) {
    const sampler = new ZipfSampler(KEYS, zipf, seed * 31 + zipf * 10);
    let changed = 0;
    for (let i = 0; i < 18; i++) {
      const counts = new Map<number, number>();
      const n = i < 7 ? 2000 : RATE;
      for (let k = 0; k < n; k++) {
        const shard = shardOfRank[sampler.next()]!;
        counts.set(shard, (counts.get(shard) ?? 0) + 1);
      }
      windows.push(snapshotOfCounts(counts, window++));
      if (windows.length > held) windows.shift();
      const d = decide(map, windows);
      if (i >= 7) changed += hotShardChanges(decision, d);
      decision = d;
    }
    out[`zipf-${zipf.toFixed(1)}`] = changed;
  }
  return out;
}

if (values.sequence) {
  console.log(`settings: ${JSON.stringify({ ...settings, snapshot: undefined })}; the benchmark's sequence of loads, ${seeds} seeds`);
  console.log('| fleet | zipf-0.8 | zipf-1.2 | zipf-1.0 | (shard changes per 11-window measured span, mean of seeds) |');
  console.log('|---|---|---|---|---|');
  for (const [name, weights] of Object.entries(FLEETS)) {
    const runs = Array.from({ length: seeds }, (_, i) => runSequence(weights, 1 + i));
    const m = (k: string): string => mean(runs.map((r) => r[k]!)).toFixed(1);
    console.log(`| ${name} | ${m('zipf-0.8')} | ${m('zipf-1.2')} | ${m('zipf-1.0')} | |`);
  }
  process.exit(0);
}

const results: Record<string, FleetFigures[]> = {};
const f2 = (x: number): string => x.toFixed(2);
console.log(`settings: ${JSON.stringify({ ...settings, snapshot: undefined })}; held windows ${heldWindows(settings)}; ${steadyWindows} steady windows x ${seeds} seeds`);
console.log('| fleet | changes/window (share at anchor moves) | windows with a change | max load, expected (mean / worst) | max load, 11-window spans (mean / worst) | burst: spread after | burst max load at 2 / 6 windows | burst shard back after | most changes in a window (windows over the budget) | ms/decision |');
console.log('|---|---|---|---|---|---|---|---|---|---|');
for (const [name, weights] of Object.entries(FLEETS)) {
  const runs = Array.from({ length: seeds }, (_, i) => runStream(weights, 1 + i));
  results[name] = runs;
  const m = (f: (r: FleetFigures) => number): number => mean(runs.map(f));
  const w = (f: (r: FleetFigures) => number): number => Math.max(...runs.map(f));
  console.log(
    `| ${name} | ${f2(m((r) => r.changesPerWindow))} (${(100 * m((r) => r.anchorShare)).toFixed(0)} %) | ${(100 * m((r) => r.windowsWithChange)).toFixed(0)} % | ${f2(m((r) => r.expectedMaxLoad.mean))} / ${f2(w((r) => r.expectedMaxLoad.worst))} | ` +
      `${f2(m((r) => r.spanMaxLoad.mean))} / ${f2(w((r) => r.spanMaxLoad.worst))} | ${runs.map((r) => r.burstReactWindows).join(', ')} windows | ` +
      `${f2(m((r) => r.burstMaxLoad2))} / ${f2(m((r) => r.burstMaxLoad6))} | ${runs.map((r) => r.cooledWindows).join(', ')} windows | ${w((r) => r.mostChanges)} (${runs.map((r) => r.overBudget).join(', ')}) | ${m((r) => r.msPerDecision).toFixed(1)} |`,
  );
}
if (values.out) writeFileSync(values.out, JSON.stringify({ settings: { ...settings }, steadyWindows, seeds, results }, null, 2) + '\n');
