/**
 * Hot shards under steady load: `npm run bench:hotshards` (docs/benchmarks.md "Hot shards").
 *
 * One real Envoy (`--concurrency 1`) in front of 8 example cache nodes (child processes), one
 * client (this process) sending `GET /kv/<key>` with only `x-cache-key`. Each answer's
 * `x-served-by` and `x-cache-tier` give the node that served it and whether its L1 had the key.
 * Variants (hot-planes.ts): keyway static, keyway with hot-shard spreading (the nodes report load
 * through the agent, keyway's local snapshot source), Envoy maglev and ring_hash, each with and
 * without `hash_balance_factor`. Weightings: 8 equal nodes, and weights 1,1,2,2,4,4,8,8; each
 * node's L1 capacity is proportional to its weight (the fleet's total is the same in both).
 * One set of processes per (variant, weighting) runs every load in turn: Zipf s = 0.8, 1.2, 1.0
 * (each after a warm-up of its own: an exact number of requests paced over `warmupMinMs`, the
 * policy's history of 6 windows and one more, so keyway-hot judges the load measured, not the one
 * before; with `steadyAfterMs`, a second span of the same load measured once the policy has settled:
 * phase `steady`), then a sudden hot-key burst (Zipf 1.0 plus one cold key taking `burstShare` of the
 * requests, measured from its first request, reaction included). The samplers are seeded and the
 * measured span is chosen by draw number, so every variant is measured on the same requests: the
 * L1 figures differ by what the variants do, not by which keys their spans happened to draw. Per span: max node load over
 * weight share, p99 client latency, L1 hit ratio. Variants alternate order between repetitions,
 * and repetition r renames the keys (placement r: the same ranks, hashed to other nodes), so the
 * repetitions sample where the hottest keys land instead of repeating one placement;
 * tables give medians with min-max and ratios to keyway static.
 * Flags: --quick (2 loads, short spans), --repeat N (default 3), --first-repetition N (number the
 * repetitions from N, so separate invocations continue the alternation), --variants a,b,
 * --weightings equal,weighted, --no-build, --out FILE (default benchmarks/results/hotshards.json,
 * quick: hotshards-quick.json), --tables a.json,b.json (print the tables of earlier runs joined),
 * --loads zipf-1.0,burst (a subset of the loads, in this order), --hot-settings "epsilon: 0.2; maxReaders: 2"
 * (keyway-hot's hotShards: fields for this run), --route-shape subset|table (keyway's envoy.routeShape),
 * --capacity-rps N (capacity mode: each node serves at most N x its weight / the mean weight data
 * requests a second, the example node's --serve-rps, as a GPU's inference rate bounds a real node;
 * each measured span runs as a closed loop of CAPACITY_CONCURRENCY requests in flight, and its
 * throughput is what the busiest node allows; no steady spans), --miss-cost K (with it: a request
 * the node's L1 misses takes K service times, the example node's --miss-cost; above 1 the variants
 * include keyway-hot-work, whose nodes' load reports count that work instead of requests).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import { envoyBinaryPath, envoyVersion } from '../../e2e/support/envoy.js';
import { freePorts } from '../../e2e/support/ports.js';
import { startNode, type NodeProcess } from './fleet.js';
import { isKeywayHot, startHotPlane, HOT_VARIANTS, type HotVariant, type WeightedNode } from './hot-planes.js';
import { hotFigures, type HotFigures } from './hot-stats.js';
import { Load, type Observed, type RankSampler } from './load.js';
import { median } from './stats.js';
import { keyOfRankIn, seededRandom, ZipfSampler } from './zipf.js';
import { pickNames, repetitions } from './args.js';
import { FULL, QUICK, WEIGHTINGS, type LoadName, type Settings, type Weighting, l1Capacity, steadySpanFrom } from './hot-settings.js';

const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

/** keyway-hot's policy settings for this run (hotShards: fields), beyond `enabled` and `windowMs` (--hot-settings). */
let hotSettings: readonly string[] = [];
/** keyway's envoy.routeShape for the keyway variants of this run (--route-shape; undefined: keyway's default). */
let routeShape: 'subset' | 'table' | undefined;
/** Capacity mode (--capacity-rps): the mean node's serving capacity, requests per second. */
let capacityRps: number | undefined;
/** Capacity mode (--miss-cost): service times a request the node's L1 misses takes. */
let missCost = 1;
/**
 * Requests in flight in capacity mode's closed loop: enough that every node's queue stays busy
 * (16, the paced load's, leaves two per node, and a queue holding two idles between them).
 */
const CAPACITY_CONCURRENCY = 128;

/** Zipf ranks, and with `share` the rank `burstRank` (a cold key) on that share of requests. */
class MixSampler implements RankSampler {
  readonly #zipf: ZipfSampler;
  readonly #random: () => number;
  constructor(
    zipf: ZipfSampler,
    readonly burstRank: number,
    public share: number,
    seed: number,
  ) {
    this.#zipf = zipf;
    this.#random = seededRandom(seed);
  }
  next(): number {
    return this.share > 0 && this.#random() < this.share ? this.burstRank : this.#zipf.next();
  }
}

/** Switches the sampler the load draws from without restarting the load. */
class SwitchSampler implements RankSampler {
  constructor(public current: RankSampler) {}
  next(): number {
    return this.current.next();
  }
}

/** Which span of a load: right after its warm-up, or once the policy has settled (Settings.steadyAfterMs). */
type Phase = 'first' | 'steady';

interface SpanResult {
  readonly variant: HotVariant;
  readonly weighting: Weighting;
  readonly load: LoadName;
  /** Absent in results written before the steady span existed: `first`. */
  readonly phase?: Phase;
  readonly repetition: number;
  readonly figures: HotFigures;
  /** keyway-hot: shards the policy spread or moved at the end of the span (from /v1/shardmap), if it says. */
  readonly hotShards?: number;
  /** keyway variants: shard-map versions published and hot-shard moves made during the span (churn). */
  readonly mapChanges?: number;
  readonly hotMoves?: number;
  /** Capacity mode: requests per second over the span (its closed loop). */
  readonly throughput?: number;
}

/** keyway's counters of churn, from its /metrics. */
async function churnCounters(keywayUrl: string | undefined): Promise<{ changes: number; moves: number } | undefined> {
  if (!keywayUrl) return undefined;
  try {
    const text = await (await fetch(`${keywayUrl}/metrics`)).text();
    const value = (name: string): number => Number(/^(\S+) (\S+)$/m.exec(text.split('\n').filter((l) => l.startsWith(`${name} `) || l.startsWith(`${name}{`)).join('\n'))?.[2] ?? 0);
    return { changes: value('keyway_shardmap_changes_total'), moves: value('keyway_hot_shard_moves_total') };
  } catch {
    return undefined;
  }
}

function samplerFor(load: LoadName, s: Settings): RankSampler {
  const zipfS = load === 'zipf-0.8' ? 0.8 : load === 'zipf-1.2' ? 1.2 : 1.0;
  const zipf = new ZipfSampler(s.keys, zipfS, s.seed + Math.round(zipfS * 10));
  return load === 'burst' ? new MixSampler(zipf, s.keys - 1, s.burstShare, s.seed + 7) : zipf;
}

/** Hot shards the shard map says the policy changed (whatever field the branch's /v1/shardmap uses), or undefined. */
async function hotShardCount(keywayUrl: string | undefined): Promise<number | undefined> {
  if (!keywayUrl) return undefined;
  try {
    const body = (await (await fetch(`${keywayUrl}/v1/shardmap`)).json()) as { hotShards?: { shards?: unknown[] } | unknown[]; readers?: Record<string, unknown> };
    const hot = body.hotShards;
    if (Array.isArray(hot)) return hot.length;
    if (hot && Array.isArray(hot.shards)) return hot.shards.length;
    if (body.readers) return Object.keys(body.readers).length;
  } catch {
    /* no such field on this branch */
  }
  return undefined;
}

async function runFleet(variant: HotVariant, weighting: Weighting, s: Settings, hotSection: boolean, repetition: number): Promise<SpanResult[]> {
  const dir = mkdtempSync(path.join(os.tmpdir(), `keyway-hot-${variant}-`));
  const weights = WEIGHTINGS[weighting];
  const ports = await freePorts(1 + weights.length);
  const specs: WeightedNode[] = weights.map((weight, i) => ({ id: `cache-${i}`, port: ports[i + 1]!, weight }));
  const plane = await startHotPlane({ variant, dir, nodes: specs, listenerPort: ports[0]!, shards: s.shards, windowMs: s.windowMs, hotSettings, hotSection, ...(routeShape ? { routeShape } : {}) });
  const nodes: NodeProcess[] = [];
  // The span being measured: the draws [from, to) of the current load's sampler.
  let span = { from: 0, to: 0, observed: [] as Observed[] };
  const sampler = new SwitchSampler(samplerFor(s.loads[0]!, s));
  const observe = (o: Observed): void => {
    if (o.seq >= span.from && o.seq < span.to) span.observed.push(o);
  };
  // Repetition r names the keys by placement r: the same ranks on other nodes, so repetitions
  // sample which node the hottest keys land on (a property of the names, the same for every variant).
  const concurrency = capacityRps === undefined ? s.concurrency : CAPACITY_CONCURRENCY;
  const load = new Load({ port: plane.listenerPort, sampler, concurrency, observe, keyOf: keyOfRankIn(repetition) });
  /**
   * Capacity mode: requests per second over the span, from when its draws happened (in a closed
   * loop a request is sent as one is answered). Its first CAPACITY_CONCURRENCY draws are left out:
   * they leave at once when the loop opens. Timing answers instead would count the last ones after
   * the busiest node's queue drained, without the requests sent meanwhile.
   */
  const closedLoopRate = async (): Promise<number> => {
    const at = async (draw: number): Promise<{ t: number; drawn: number }> => {
      while (load.drawn < draw) await sleep(5);
      return { t: performance.now(), drawn: load.drawn };
    };
    const a = await at(span.from + CAPACITY_CONCURRENCY);
    const b = await at(span.to);
    return (b.drawn - a.drawn) / ((b.t - a.t) / 1000);
  };
  /** The rate of a measured span: the paced rate, or in capacity mode a closed loop. */
  const spanRate = capacityRps === undefined ? s.rate : Infinity;
  const byId = new Map(specs.map((x) => [x.id, x.weight]));
  const out: SpanResult[] = [];
  /** Waits until the current span is measured; its figures, with keyway's churn during it. */
  const measure = async (name: LoadName, phase: Phase): Promise<SpanResult> => {
    const churnBefore = await churnCounters(plane.keywayUrl);
    const throughput = capacityRps === undefined ? undefined : await closedLoopRate();
    while (span.observed.length < s.measured) await sleep(20);
    const churnAfter = await churnCounters(plane.keywayUrl);
    const churn = churnBefore && churnAfter ? { mapChanges: churnAfter.changes - churnBefore.changes, hotMoves: churnAfter.moves - churnBefore.moves } : {};
    const f = hotFigures(span.observed, 0, span.observed.length, byId);
    const hot = isKeywayHot(variant) ? await hotShardCount(plane.keywayUrl) : undefined;
    console.log(
      `  ${weighting} ${name}${phase === 'steady' ? ' (steady)' : ''} ${variant} #${repetition + 1}: max load/share ${f.maxLoadOverShare.toFixed(2)} (${f.busiest}), p99 ${f.p99Ms.toFixed(1)} ms, ` +
        `L1 ${f.l1.toFixed(3)}, errors ${f.errors}${throughput !== undefined ? `, ${throughput.toFixed(0)} req/s` : ''}${hot !== undefined ? `, hot shards ${hot}` : ''}` +
        ('mapChanges' in churn ? `, map changes ${churn.mapChanges}, hot moves ${churn.hotMoves}` : ''),
    );
    return { variant, weighting, load: name, phase, repetition, figures: f, ...(hot !== undefined ? { hotShards: hot } : {}), ...churn, ...(throughput !== undefined ? { throughput } : {}) };
  };
  try {
    // A weight is the node's cache capacity (docs/architecture.md), so each L1 holds its weight's
    // part of the fleet's total (8 x l1PerNode): equal capacities would reward a placement that
    // ignores the weights.
    const argsFor = (spec: WeightedNode): string[] => [
      ...plane.nodeArgs(),
      '--l1-capacity',
      String(l1Capacity(s, weights, spec.weight)),
      '--l3-delay-ms',
      '1',
      ...(capacityRps === undefined ? [] : ['--serve-rps', String(nodeCapacity(capacityRps, weights, spec.weight)), '--miss-cost', String(missCost)]),
    ];
    // Two at a time, each retried once: eight node processes starting at once on a busy machine
    // overrun startNode's 30 s.
    const start = (spec: WeightedNode): Promise<NodeProcess> => {
      const args = argsFor(spec);
      return startNode(spec, args, dir).catch(() => startNode(spec, args, dir));
    };
    for (let i = 0; i < specs.length; i += 2) nodes.push(...(await Promise.all(specs.slice(i, i + 2).map(start))));
    await plane.waitRouted();
    load.start();
    for (const [i, name] of s.loads.entries()) {
      // A fresh seeded sampler per load; the warm-up is the same number of draws for every variant.
      sampler.current = samplerFor(name, s);
      const warmup = name === 'burst' ? 0 : i === 0 ? s.firstWarmup : s.warmup;
      const from = load.drawn + warmup;
      span = { from, to: from + s.measured, observed: [] };
      if (warmup > 0) {
        load.setRate(warmup / (s.warmupMinMs / 1000));
        load.setRateFrom(from, spanRate);
        while (load.drawn < from) await sleep(20);
      } else {
        load.setRate(spanRate);
      }
      out.push(await measure(name, 'first'));
      if (name === 'burst' || s.steadyAfterMs <= 0 || capacityRps !== undefined) continue;
      // The steady span: chosen by draw number too (the warm-up's and the first span's draws, then
      // the rate's draws until steadyAfterMs), so every variant is measured on the same requests.
      const steadyFrom = steadySpanFrom(s, span.to);
      span = { from: steadyFrom, to: steadyFrom + s.measured, observed: [] };
      while (load.drawn < steadyFrom) await sleep(20);
      out.push(await measure(name, 'steady'));
    }
    return out;
  } finally {
    await load.stop();
    await Promise.all(nodes.map((n) => n.stop()));
    await plane.close();
    if (process.env.KEYWAY_BENCH_KEEP !== '1') rmSync(dir, { recursive: true, force: true });
  }
}

/** A node's serving capacity in capacity mode: its weight's part of the fleet's, `mean` per node on average. */
function nodeCapacity(mean: number, weights: readonly number[], weight: number): number {
  const total = weights.reduce((a, b) => a + b, 0);
  return Math.max(1, Math.round((mean * weights.length * weight) / total));
}

function spread(xs: readonly number[], digits: number): string {
  const f = (x: number) => x.toFixed(digits);
  const lo = Math.min(...xs);
  // "a to b" once a bound is negative: "-0.2--0.1" reads badly.
  return xs.length === 1 ? f(xs[0]!) : `${f(median(xs))} (${f(lo)}${lo < 0 ? ' to ' : '-'}${f(Math.max(...xs))})`;
}

/**
 * L1 of `v` minus L1 of `base`, in points, per repetition both have (the same requests and key
 * placement), oldest repetition first: comparisons paired this way leave out which node the
 * hottest keys happened to land on.
 */
function pairedL1(rows: readonly SpanResult[], v: HotVariant, base: HotVariant): number[] {
  const of = (x: HotVariant) => new Map(rows.filter((r) => r.variant === x).map((r) => [r.repetition, r.figures.l1]));
  const a = of(v);
  const b = of(base);
  return [...a.keys()].filter((rep) => b.has(rep)).sort((x, y) => x - y).map((rep) => 100 * (a.get(rep)! - b.get(rep)!));
}

function table(results: readonly SpanResult[], weighting: Weighting, load: LoadName, phase: Phase, variants: readonly HotVariant[]): string {
  const rowsOf = results.filter((r) => r.weighting === weighting && r.load === load && (r.phase ?? 'first') === phase);
  const pick = (v: HotVariant) => rowsOf.filter((r) => r.variant === v).map((r) => r.figures);
  const base = pick('keyway-static');
  const baseP99 = base.length ? median(base.map((f) => f.p99Ms)) : undefined;
  // Capacity mode's spans: their throughput, and its ratio to keyway static's.
  const throughputOf = (v: HotVariant): number[] => rowsOf.filter((r) => r.variant === v && r.throughput !== undefined).map((r) => r.throughput!);
  const capacity = rowsOf.some((r) => r.throughput !== undefined);
  const baseThroughput = throughputOf('keyway-static');
  const rows = [
    ['variant', 'max load / share', 'p99 ms', 'p99 / static', 'L1 hit ratio', 'L1 - static (points, paired)', 'errors', ...(capacity ? ['req/s', 'req/s / static'] : [])],
    ...variants.map((v) => {
      const fs = pick(v);
      if (fs.length === 0) return [v, '-', '-', '-', '-', '-', '-', ...(capacity ? ['-', '-'] : [])];
      const p99 = median(fs.map((f) => f.p99Ms));
      const diff = pairedL1(rowsOf, v, 'keyway-static');
      const tput = throughputOf(v);
      return [
        v,
        spread(fs.map((f) => f.maxLoadOverShare), 2),
        spread(fs.map((f) => f.p99Ms), 1),
        baseP99 ? (p99 / baseP99).toFixed(2) : '-',
        spread(fs.map((f) => f.l1), 3),
        diff.length ? spread(diff, 1) : '-',
        String(median(fs.map((f) => f.errors))),
        ...(capacity ? [tput.length ? spread(tput, 0) : '-', tput.length && baseThroughput.length ? (median(tput) / median(baseThroughput)).toFixed(2) : '-'] : []),
      ];
    }),
  ];
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  const line = (r: string[]) => `| ${r.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`;
  const lines = [line(rows[0]!), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...rows.slice(1).map(line)];
  // keyway-hot against each Envoy variant, placement by placement.
  const against = variants.filter((v) => !isKeywayHot(v) && v !== 'keyway-static').map((v) => [v, pairedL1(rowsOf, 'keyway-hot', v)] as const).filter(([, d]) => d.length > 0);
  if (against.length > 0) {
    lines.push('', `keyway-hot's L1 minus the variant's, points, per repetition: ${against.map(([v, d]) => `${v} ${d.map((x) => (x >= 0 ? '+' : '') + x.toFixed(2)).join(', ')}`).join('; ')}`);
  }
  return lines.join('\n');
}

/** The tables, per weighting and load, of every variant present in `results` (several runs' results may be joined). */
function printTables(results: readonly SpanResult[]): void {
  const variants = HOT_VARIANTS.filter((v) => results.some((r) => r.variant === v));
  const loads = [...new Set(results.map((r) => r.load))];
  for (const weighting of Object.keys(WEIGHTINGS) as Weighting[]) {
    for (const load of loads) {
      for (const phase of ['first', 'steady'] as const) {
        if (!results.some((r) => r.weighting === weighting && r.load === load && (r.phase ?? 'first') === phase)) continue;
        console.log(`\n### ${weighting} weights, ${load}${phase === 'steady' ? ', steady' : ''}\n`);
        console.log(table(results, weighting, load, phase, variants));
      }
    }
  }
  console.log('');
}

/** Does this branch's topology file take a `hotShards:` section? */
function detectHotSection(): boolean {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'keyway-hot-probe-'));
  try {
    const probe = path.join(dir, 'probe.yaml');
    writeFileSync(probe, 'shards: 8\nreplicas: 1\nhotShards: {enabled: false, windowMs: 1000}\nendpoints:\n  - {id: a, address: 127.0.0.1, port: 1}\n');
    return spawnSync(process.execPath, [path.join(REPO_ROOT, 'bin', 'keyway.js'), 'check', '--config', probe], { encoding: 'utf8' }).status === 0;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      quick: { type: 'boolean' },
      repeat: { type: 'string' },
      'first-repetition': { type: 'string' },
      variants: { type: 'string' },
      weightings: { type: 'string' },
      'no-build': { type: 'boolean' },
      out: { type: 'string' },
      tables: { type: 'string' },
      loads: { type: 'string' },
      'hot-settings': { type: 'string' },
      'route-shape': { type: 'string' },
      'capacity-rps': { type: 'string' },
      'miss-cost': { type: 'string' },
    },
  });
  if (values.tables !== undefined) {
    printTables(values.tables.split(',').flatMap((f) => (JSON.parse(readFileSync(f, 'utf8')) as { results: SpanResult[] }).results));
    return;
  }
  const base = values.quick ? QUICK : FULL;
  const s: Settings = values.loads ? { ...base, loads: pickNames(values.loads, FULL.loads, 'load') } : base;
  if (values['hot-settings']) hotSettings = values['hot-settings'].split(';').map((x) => x.trim()).filter(Boolean);
  if (values['route-shape'] !== undefined) {
    if (values['route-shape'] !== 'subset' && values['route-shape'] !== 'table') throw new Error(`--route-shape must be subset or table, got ${values['route-shape']}`);
    routeShape = values['route-shape'];
  }
  if (values['capacity-rps'] !== undefined) {
    capacityRps = Number(values['capacity-rps']);
    if (!Number.isSafeInteger(capacityRps) || capacityRps < 1) throw new Error(`--capacity-rps must be an integer >= 1, got ${values['capacity-rps']}`);
  }
  if (values['miss-cost'] !== undefined) {
    missCost = Number(values['miss-cost']);
    if (capacityRps === undefined || !Number.isSafeInteger(missCost) || missCost < 1) throw new Error(`--miss-cost takes an integer >= 1, with --capacity-rps; got ${values['miss-cost']}`);
  }
  const repeat = repetitions(values.repeat, values.quick ? 1 : 3);
  const first = Number(values['first-repetition'] ?? 0);
  // keyway-hot-work differs from keyway-hot only where a miss costs more than a hit: it runs only then.
  let variants = pickNames(values.variants, HOT_VARIANTS.filter((v) => v !== 'keyway-hot-work' || missCost > 1 || values.variants !== undefined), 'variant');
  if (variants.includes('keyway-hot-work') && missCost <= 1) throw new Error('keyway-hot-work needs --capacity-rps and --miss-cost above 1 (its nodes count a miss as its service times)');
  const weightings = pickNames(values.weightings, Object.keys(WEIGHTINGS) as Weighting[], 'weighting');
  if (!existsSync(envoyBinaryPath())) throw new Error(`Envoy not found at ${envoyBinaryPath()} (run scripts/install-envoy.sh or set KEYWAY_ENVOY)`);
  if (!values['no-build'] && variants.some((v) => v.startsWith('keyway'))) {
    if (spawnSync('npm', ['run', '-s', 'build'], { cwd: REPO_ROOT, stdio: 'inherit' }).status !== 0) throw new Error('npm run build failed');
  }
  const hotSection = detectHotSection();
  if (!hotSection && variants.some(isKeywayHot)) {
    console.log('keyway on this branch has no hotShards: section (the policy is not merged): keyway-hot is left out');
    variants = variants.filter((v) => !isKeywayHot(v));
  }
  const zipf = new ZipfSampler(s.keys, 1.0, s.seed);
  console.log(
    `hot-shard benchmark${values.quick ? ' (quick)' : ''}: 8 nodes, ${s.keys} keys, L1 ${s.l1PerNode}/node (the top ${8 * s.l1PerNode} keys get ` +
      `${(100 * zipf.topShare(8 * s.l1PerNode)).toFixed(1)}% of Zipf 1.0 requests), S=${s.shards}, loads ${s.loads.join(', ')}, ` +
      `${s.measured} requests measured per span ${capacityRps === undefined ? `at ${s.rate} req/s` : `in a closed loop of ${CAPACITY_CONCURRENCY}, nodes serving ${capacityRps} req/s x weight / mean weight, a miss ${missCost}x a hit`}, window ${s.windowMs} ms, repeat ${repeat}`,
  );
  const results: SpanResult[] = [];
  const t0 = performance.now();
  const out = values.out ?? path.join(REPO_ROOT, 'benchmarks', 'results', values.quick ? 'hotshards-quick.json' : 'hotshards.json');
  mkdirSync(path.dirname(out), { recursive: true });
  // Written after every fleet, so a run cut short keeps what it measured.
  const save = (): void => writeFileSync(
    out,
    `${JSON.stringify(
      {
        date: new Date().toISOString(),
        machine: { cpus: os.cpus().length, model: os.cpus()[0]?.model, node: process.version, envoy: envoyVersion(envoyBinaryPath()), loadavg: os.loadavg() },
        settings: { ...s, quick: values.quick === true, repeat, hotSettings, ...(routeShape ? { routeShape } : {}), ...(capacityRps !== undefined ? { capacityRps, missCost, concurrency: CAPACITY_CONCURRENCY } : {}) },
        results,
        wallSeconds: (performance.now() - t0) / 1000,
      },
      null,
      2,
    )}\n`,
  );
  for (let rep = first; rep < first + repeat; rep++) {
    const order = rep % 2 === 0 ? variants : [...variants].reverse();
    for (const weighting of weightings) {
      for (const v of order) {
        try {
          results.push(...(await runFleet(v, weighting, s, hotSection, rep)));
          save();
        } catch (err) {
          // One fleet that fails to start (a busy machine) costs its own rows, not the run.
          console.log(`  ${weighting} ${v} #${rep + 1}: failed: ${(err as Error).message}`);
        }
      }
    }
  }
  printTables(results);
  console.log(`wrote ${path.relative(REPO_ROOT, out)} (${((performance.now() - t0) / 1000).toFixed(0)} s)`);
}

void main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error((err as Error).stack ?? String(err));
    process.exit(1);
  },
);
