/**
 * Sharding benchmark (docs/benchmarks.md): `npm run bench:sharding`. Prints tables and writes
 * benchmarks/results/sharding.json. Every comparison runs in the same process on the same topology.
 *
 *  1. full compute for S x N x R (spread none, and subzone for R = 2);
 *  2. incremental add / remove / reweight at S=16384, N=1024 against a full recompute;
 *  3. lookups per second: keyway's precomputed shard -> owner table, keyway's rendezvous computed on
 *     the fly, and npm rendezvous-hash (MD5 per pair) on the same shards and nodes;
 *  4. shards moved on add and remove, as a ratio to the ideal, for keyway, a ketama ring, jump hash
 *     and modulo; 5. balance (largest weight-normalised share over the mean) for each.
 *
 * KEYWAY_BENCH_QUICK=1 shrinks every case (for a smoke run); figures for the docs use the default.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Endpoint } from '../../src/core/endpoint.js';
import type { ShardingPolicy, SpreadPolicy } from '../../src/core/policy.js';
import {
  applyEndpointChange,
  computeShardMap,
  diffShardMaps,
  keyToShard,
  type ShardMap,
} from '../../src/sharding/index.js';
import { endpointKey, scoreShard, shardSteps } from '../../src/sharding/rendezvous-score.js';
import {
  jumpPlacement,
  ketamaPlacement,
  moduloPlacement,
  type Placement,
  rendezvousHashLookup,
  shardKeys,
  type WeightedNode,
} from './baselines.js';

const QUICK = process.env.KEYWAY_BENCH_QUICK === '1';
const here = dirname(fileURLToPath(import.meta.url));
const started = Date.now();
const loadBefore = os.loadavg();

// ---- topology ----------------------------------------------------------------------------------
/** GPU-memory-like weights (GiB) cycling over the endpoints. */
const WEIGHTS = [40, 80, 80, 141, 94];
function topology(n: number, weighted = true, prefix = 'cache'): Endpoint[] {
  return Array.from({ length: n }, (_, i) => ({
    id: `${prefix}-${i}`,
    address: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`,
    port: 7000,
    locality: { region: 'us-east', zone: `us-east-1${'abcd'[i % 4]}`, subzone: `nvl-${i % 16}` },
    weight: weighted ? (WEIGHTS[i % WEIGHTS.length] as number) : 1,
    ready: true,
  }));
}

// ---- timing helpers ----------------------------------------------------------------------------
// CPU time of this process is the primary measure: the benchmark machine is shared, and wall time
// there includes waiting for a core. Wall-clock medians are kept in the JSON beside it.
interface Timing {
  cpu: number;
  wall: number;
}
function timeOnce(fn: () => unknown): Timing {
  const c = process.cpuUsage();
  const t = process.hrtime.bigint();
  fn();
  const wall = Number(process.hrtime.bigint() - t) / 1e6;
  const d = process.cpuUsage(c);
  return { cpu: (d.user + d.system) / 1000, wall };
}
function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
}
const medianTiming = (ts: Timing[]): Timing => ({ cpu: median(ts.map((t) => t.cpu)), wall: median(ts.map((t) => t.wall)) });
/** Median over repetitions, stopping after `reps` runs or `budgetMs` of wall time, whichever first (at least 1). */
function timeMedian(fn: () => unknown, reps: number, budgetMs: number): Timing {
  const xs: Timing[] = [];
  const t0 = Date.now();
  do xs.push(timeOnce(fn));
  while (xs.length < reps && Date.now() - t0 < budgetMs);
  return medianTiming(xs);
}
/** Operations per CPU-second of `op(i)` for i = 0, 1, ..., run in batches for about `ms` of CPU time. */
function opsPerSecond(op: (i: number) => number, batch: number, ms: number): number {
  let sink = 0;
  for (let i = 0; i < Math.min(batch, 1000); i++) sink += op(i); // warm up
  let done = 0;
  const c = process.cpuUsage();
  let elapsed = 0;
  while (elapsed < ms) {
    for (let i = 0; i < batch; i++) sink += op(done + i);
    done += batch;
    const d = process.cpuUsage(c);
    elapsed = (d.user + d.system) / 1000;
  }
  if (sink === -1) console.log('');
  return (done / elapsed) * 1000;
}

const fmt = (x: number, digits = 1) => (Number.isFinite(x) ? x.toFixed(digits) : String(x));
const fmtOps = (x: number) =>
  x >= 1e6 ? `${(x / 1e6).toFixed(2)} M/s` : x >= 1e3 ? `${(x / 1e3).toFixed(1)} k/s` : `${x.toFixed(0)} /s`;
function table(title: string, head: string[], rows: (string | number)[][]): void {
  const cells = [head, ...rows.map((r) => r.map(String))];
  const widths = head.map((_, c) => Math.max(...cells.map((r) => (r[c] ?? '').length)));
  console.log(`\n${title}`);
  cells.forEach((r, i) => {
    console.log(`| ${r.map((v, c) => v.padEnd(widths[c] as number)).join(' | ')} |`);
    if (i === 0) console.log(`|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`);
  });
}

const results: Record<string, unknown> = {};

// ---- 1. full compute ---------------------------------------------------------------------------
{
  const rows: (string | number)[][] = [];
  const out: unknown[] = [];
  const shardCounts = QUICK ? [1024] : [1024, 16384];
  const sizes = QUICK ? [16, 256] : [16, 256, 1024];
  for (const spread of ['none', 'subzone', 'zone'] as const) {
    for (const R of [1, 2]) computeShardMap(topology(64), { shardCount: 1024, replicas: R, spread }); // warm up the JIT
  }
  for (const S of shardCounts) {
    for (const N of sizes) {
      const endpoints = topology(N);
      for (const R of [1, 2]) {
        const spreads: SpreadPolicy[] = R === 1 ? ['none'] : ['none', 'subzone', 'zone'];
        const ms: Record<string, Timing> = {};
        for (const spread of spreads) {
          const big = S * N >= 4_000_000;
          ms[spread] = timeMedian(() => computeShardMap(endpoints, { shardCount: S, replicas: R, spread }), big ? 3 : 7, big ? 8000 : 2000);
        }
        const cpu = (k: string) => (ms[k] ? fmt(ms[k].cpu) : '-');
        const nsPerPair = ((ms.none as Timing).cpu * 1e6) / (S * N);
        rows.push([S, N, R, cpu('none'), cpu('subzone'), cpu('zone'), fmt(nsPerPair)]);
        out.push({ shards: S, endpoints: N, replicas: R, ms, nsPerPairNone: nsPerPair });
      }
    }
  }
  table('Full compute (median CPU ms)', ['S', 'N', 'R', 'none', 'subzone', 'zone', 'ns per (shard, endpoint), none'], rows);
  results.fullCompute = out;
}

// ---- 2. incremental vs full ---------------------------------------------------------------------
{
  const S = QUICK ? 4096 : 16384;
  const N = QUICK ? 256 : 1024;
  const rows: (string | number)[][] = [];
  const out: unknown[] = [];
  for (const spread of ['none', 'subzone', 'zone'] as const) {
    const policy: ShardingPolicy = { shardCount: S, replicas: 2, spread };
    const endpoints = topology(N);
    const base = computeShardMap(endpoints, policy);
    const fullMs = timeMedian(() => computeShardMap(endpoints, policy), 3, 6000);
    const trials = QUICK ? 5 : 15;
    // Warm up each path on a few changes not measured.
    for (let i = 0; i < 3; i++) {
      applyEndpointChange(base, { kind: 'upsert', endpoint: { ...(endpoints[i] as Endpoint), id: `warm-${i}` } });
      applyEndpointChange(base, { kind: 'remove', id: (endpoints[N - 1 - i] as Endpoint).id });
    }
    const pick = (t: number) => endpoints[(t * 7919) % N] as Endpoint;
    const cases: [string, (t: number) => ShardMap][] = [
      ['add', (t) => applyEndpointChange(base, { kind: 'upsert', endpoint: { ...pick(t), id: `new-${t}` } })],
      ['remove', (t) => applyEndpointChange(base, { kind: 'remove', id: pick(t).id })],
      ['reweight x2', (t) => applyEndpointChange(base, { kind: 'upsert', endpoint: { ...pick(t), weight: pick(t).weight * 2 } })],
    ];
    for (const [name, run] of cases) {
      const xs: Timing[] = [];
      for (let t = 0; t < trials; t++) xs.push(timeOnce(() => run(t)));
      const inc = medianTiming(xs);
      rows.push([spread, name, fmt(inc.cpu, 2), fmt(fullMs.cpu, 0), `${fmt(fullMs.cpu / inc.cpu, 0)}x`, `${fmt(fullMs.wall / inc.wall, 0)}x`]);
      out.push({ spread, change: name, incrementalMs: inc, fullMs, ratioCpu: fullMs.cpu / inc.cpu, ratioWall: fullMs.wall / inc.wall, shards: S, endpoints: N, replicas: 2 });
    }
  }
  table(
    `Incremental vs full recompute (S=${S}, N=${N}, R=2; median CPU ms of ${QUICK ? 5 : 15} changes; target >= 50x)`,
    ['spread', 'change', 'incremental', 'full', 'speedup (CPU)', 'speedup (wall)'],
    rows,
  );
  results.incremental = out;
}

// ---- 3. lookups ---------------------------------------------------------------------------------
{
  const S = 16384;
  const rows: (string | number)[][] = [];
  const out: unknown[] = [];
  const shards = Uint32Array.from({ length: 1 << 16 }, (_, i) => (Math.imul(i + 1, 0x9e3779b1) >>> 0) % S);
  const keys = Array.from({ length: 1 << 12 }, (_, i) => `user:${i * 7919}:embedding`);
  const mask = shards.length - 1;
  for (const N of QUICK ? [16, 256] : [16, 256, 1024]) {
    const endpoints = topology(N, false);
    const map = computeShardMap(endpoints, { shardCount: S, replicas: 1, spread: 'none' });
    const owners = map.owners;
    const table = (i: number) => ((owners[shards[i & mask] as number] as readonly string[])[0] as string).length;
    const keyLookup = (i: number) =>
      ((owners[keyToShard(keys[i & (keys.length - 1)] as string, S)] as readonly string[])[0] as string).length;
    // keyway's contract 2 computed per lookup: every endpoint's score for the shard, keep the best.
    const kHi = Uint32Array.from(endpoints, (e) => endpointKey(e.id).hi);
    const kLo = Uint32Array.from(endpoints, (e) => endpointKey(e.id).lo);
    const w = Float64Array.from(endpoints, (e) => e.weight);
    const steps = shardSteps(S);
    const scores = new Float64Array(N);
    const onTheFly = (i: number) => {
      const s = shards[i & mask] as number;
      scoreShard(kHi, kLo, w, N, steps.hi[s] as number, steps.lo[s] as number, scores);
      let best = 0;
      for (let j = 1; j < N; j++) if ((scores[j] as number) > (scores[best] as number)) best = j;
      return best;
    };
    const nodes: WeightedNode[] = endpoints.map((e) => ({ id: e.id, weight: 1 }));
    const rh = rendezvousHashLookup(nodes);
    const rendezvousHash = (i: number) => rh(shards[i & mask] as number).length;
    // Both rendezvous variants pick the same kind of answer; check they agree with the table where they should.
    for (let i = 0; i < 50; i++) {
      const s = shards[i] as number;
      if (endpoints[onTheFly(i)]?.id !== owners[s]?.[0]) throw new Error('on-the-fly rendezvous disagrees with the table');
    }
    const budget = QUICK ? 150 : 700;
    const tableOps = opsPerSecond(table, 1 << 16, budget);
    const keyOps = opsPerSecond(keyLookup, 1 << 12, budget);
    const flyOps = opsPerSecond(onTheFly, Math.max(16, (1 << 16) / N), budget);
    const rhOps = opsPerSecond(rendezvousHash, Math.max(4, (1 << 12) / N), budget);
    rows.push([N, fmtOps(tableOps), fmtOps(keyOps), fmtOps(flyOps), fmtOps(rhOps), `${fmt(tableOps / rhOps, 0)}x`, `${fmt(flyOps / rhOps, 1)}x`]);
    out.push({ endpoints: N, shards: S, tableOps, keyToOwnerOps: keyOps, onTheFlyOps: flyOps, rendezvousHashOps: rhOps, tableRatio: tableOps / rhOps, onTheFlyRatio: flyOps / rhOps });
  }
  table(
    'Lookups per CPU-second, shard -> owner (target: >= 20x rendezvous-hash)',
    ['N', 'keyway table', 'keyway key->owner', 'keyway on the fly', 'rendezvous-hash', 'table / r-h', 'on the fly / r-h'],
    rows,
  );
  results.lookups = out;
}

// ---- 4 + 5. moved shards and balance -------------------------------------------------------------
{
  const S = QUICK ? 4096 : 16384;
  const N = QUICK ? 64 : 256;
  const trials = QUICK ? 4 : 16;
  const keysByTrial = Array.from({ length: trials }, (_, t) => shardKeys(S, t));
  const rows: (string | number)[][] = [];
  const balanceRows: (string | number)[][] = [];
  const out: unknown[] = [];

  const assign = (p: Placement): string[] => Array.from({ length: S }, (_, s) => p(s));
  const moved = (a: string[], b: string[]) => a.reduce((n, x, i) => n + (x === b[i] ? 0 : 1), 0);
  function balance(owners: string[], nodes: readonly WeightedNode[]): number {
    const count = new Map<string, number>(nodes.map((n) => [n.id, 0]));
    for (const o of owners) count.set(o, (count.get(o) ?? 0) + 1);
    const norm = nodes.map((n) => (count.get(n.id) as number) / n.weight);
    return Math.max(...norm) / (norm.reduce((s, x) => s + x, 0) / norm.length);
  }

  for (const weighted of [false, true]) {
    const endpoints = topology(N, weighted);
    const nodes: WeightedNode[] = endpoints.map((e) => ({ id: e.id, weight: e.weight }));
    const W = nodes.reduce((s, n) => s + n.weight, 0);
    const policy: ShardingPolicy = { shardCount: S, replicas: 1, spread: 'none' };
    const base = computeShardMap(endpoints, policy);
    const keywayBase = base.owners.map((o) => o[0] as string);
    // keyway with replicas: R = 2 under spread subzone; a move is a shard whose owner set changed,
    // the ideal is the new (or removed) endpoint's R * S * w / W owner slots.
    const R2 = 'keyway R=2 subzone';
    const base2 = computeShardMap(endpoints, { shardCount: S, replicas: 2, spread: 'subzone' });
    const setMoves = (a: ShardMap, b: ShardMap) =>
      diffShardMaps(a, b).moves.filter((m) => m.from.length !== m.to.length || m.from.some((id) => !m.to.includes(id))).length;

    // Jump hash is deterministic per key set: each trial draws its own shard keys, so its figures
    // average over trials like keyway's (which vary the endpoint added or removed).
    type Scheme = { name: string; place: (ns: readonly WeightedNode[], trial: number) => Placement; removeLastOnly?: boolean };
    const schemes: Scheme[] = [
      { name: 'ketama ring (160 pts)', place: ketamaPlacement },
      { name: 'jump hash', place: (ns, t) => jumpPlacement(ns, keysByTrial[t] as bigint[]), removeLastOnly: true },
      { name: 'modulo', place: moduloPlacement, removeLastOnly: true },
    ];

    // Ideal moves: S * w / W' for an add, S * w / W for a remove (w of the endpoint actually
    // removed: jump hash and modulo can only drop the last one); variance under the ideal (binomial).
    let addIdeal = 0;
    let addVar = 0;
    let removeVar = 0;
    const removeIdeal = new Map<string, number>();
    const addIdeal2 = new Map<string, number>();
    const addMoves = new Map<string, number>();
    const removeMoves = new Map<string, number>();
    const bump = (m: Map<string, number>, k: string, v: number) => m.set(k, (m.get(k) ?? 0) + v);
    const baseAssign = new Map(schemes.map((sc) => [sc.name, assign(sc.place(nodes, 0))]));

    for (let t = 0; t < trials; t++) {
      // add one endpoint of the t-th weight
      const w = weighted ? (WEIGHTS[t % WEIGHTS.length] as number) : 1;
      const extra: Endpoint = { ...(endpoints[0] as Endpoint), id: `cache-${N + t}`, weight: w };
      const pAdd = w / (W + w);
      addIdeal += S * pAdd;
      addVar += S * pAdd * (1 - pAdd);
      const kAdd = applyEndpointChange(base, { kind: 'upsert', endpoint: extra });
      bump(addMoves, 'keyway', diffShardMaps(base, kAdd).moves.length);
      bump(addMoves, R2, setMoves(base2, applyEndpointChange(base2, { kind: 'upsert', endpoint: extra })));
      bump(addIdeal2, R2, 2 * S * pAdd);
      // remove the t-th of a spread of endpoints (schemes that can only remove the last bucket do that)
      const victim = endpoints[(t * 7919) % N] as Endpoint;
      const pRem = victim.weight / W;
      bump(removeIdeal, 'keyway', S * pRem);
      removeVar += S * pRem * (1 - pRem);
      const kRem = applyEndpointChange(base, { kind: 'remove', id: victim.id });
      bump(removeMoves, 'keyway', diffShardMaps(base, kRem).moves.length);
      bump(removeMoves, R2, setMoves(base2, applyEndpointChange(base2, { kind: 'remove', id: victim.id })));
      bump(removeIdeal, R2, 2 * S * pRem);
      for (const sc of schemes) {
        const before = sc.name === 'jump hash' ? assign(sc.place(nodes, t)) : (baseAssign.get(sc.name) as string[]);
        bump(addMoves, sc.name, moved(before, assign(sc.place([...nodes, { id: extra.id, weight: w }], t))));
        const removed = sc.removeLastOnly ? nodes.slice(0, -1) : nodes.filter((n) => n.id !== victim.id);
        const removedWeight = sc.removeLastOnly ? (nodes[N - 1] as WeightedNode).weight : victim.weight;
        bump(removeMoves, sc.name, moved(before, assign(sc.place(removed, t))));
        bump(removeIdeal, sc.name, (S * removedWeight) / W);
      }
    }
    const addBand = (2 * Math.sqrt(addVar)) / addIdeal;
    const remBand = (2 * Math.sqrt(removeVar)) / (removeIdeal.get('keyway') as number);
    for (const name of ['keyway', R2, ...schemes.map((s) => s.name)]) {
      const a = (addMoves.get(name) as number) / (addIdeal2.get(name) ?? addIdeal);
      const r = (removeMoves.get(name) as number) / (removeIdeal.get(name) as number);
      rows.push([weighted ? 'weighted' : 'equal', name, fmt(a, 3), fmt(r, 3)]);
      if (name === R2) {
        out.push({ weights: weighted ? 'weighted' : 'equal', scheme: name, movedOnAddOverIdeal: a, movedOnRemoveOverIdeal: r });
        continue;
      }
      const owners = name === 'keyway' ? keywayBase : (baseAssign.get(name) as string[]);
      const b = balance(owners, nodes);
      balanceRows.push([weighted ? 'weighted' : 'equal', name, fmt(b, 3)]);
      out.push({ weights: weighted ? 'weighted' : 'equal', scheme: name, movedOnAddOverIdeal: a, movedOnRemoveOverIdeal: r, balanceMaxOverMean: b });
    }
    rows.push([weighted ? 'weighted' : 'equal', '(ideal +- 2 sd)', `1 +- ${fmt(addBand, 3)}`, `1 +- ${fmt(remBand, 3)}`]);
  }
  table(`Shards moved / ideal (S=${S}, N=${N}, R=1 unless named; ${trials} adds and ${trials} removes)`, ['weights', 'scheme', 'add', 'remove'], rows);
  table(`Balance: largest weight-normalised share / mean (S=${S}, N=${N})`, ['weights', 'scheme', 'max / mean'], balanceRows);
  results.movement = out;
}

const meta = {
  command: 'npm run bench:sharding',
  quick: QUICK,
  date: new Date().toISOString(),
  node: process.version,
  cpus: os.cpus().length,
  cpuModel: os.cpus()[0]?.model,
  loadAverageBefore: loadBefore,
  loadAverageAfter: os.loadavg(),
  seconds: (Date.now() - started) / 1000,
};
console.log(`\n${JSON.stringify(meta)}`);
const dir = join(here, '..', 'results');
mkdirSync(dir, { recursive: true });
writeFileSync(join(dir, QUICK ? 'sharding.quick.tmp' : 'sharding.json'), `${JSON.stringify({ meta, ...results }, null, 2)}\n`);
