/**
 * L1 hit ratio through node churn: `npm run bench:hitrate` (about 35 minutes), `-- --quick` (a
 * smoke run for CI, under 4 minutes: 4 nodes scaling out to 5, 8000 keys, one set of processes
 * per variant for all three scenarios). Writes benchmarks/results/hitrate.json (quick:
 * hitrate-quick.json) and prints the tables docs/benchmarks.md quotes.
 *
 * One real Envoy (`.venv/bin/envoy` or KEYWAY_ENVOY, `--concurrency 1`), the example cache nodes as
 * child processes, one client (this process) sending `GET /kv/<key>` with only `x-cache-key`
 * through Envoy, keys drawn from Zipf s=1.0 with a fixed seed. Each answer's `x-cache-tier` says
 * whether the node's L1 had it. Variants (routing.ts): keyway with warm handoff, keyway without,
 * Envoy ring_hash and maglev on the key header, round robin. Scenarios, each on a fresh set of
 * processes after a warm-up and a steady span:
 *   rolling-restart  every node in turn leaves (keyway: `draining: true`, then the node's
 *                    /v1/drain says its shards are handed off; Envoy alone: out of EDS), is stopped,
 *                    starts again empty, and rejoins;
 *   scale-out        two nodes join (8 -> 10);
 *   node-failure     one node is killed (SIGKILL) and removed at once, as a health check would.
 * Flags: --quick, --repeat N (default 1; medians and min-max when N > 1), --variants a,b,
 * --scenarios x,y, --no-build, --route-shape subset|table (keyway's envoy.routeShape for its variants).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { envoyBinaryPath, envoyVersion } from '../../e2e/support/envoy.js';
import { freePorts } from '../../e2e/support/ports.js';
import { startNode, type NodeProcess, type NodeSpec } from './fleet.js';
import { Load } from './load.js';
import { startPlane, VARIANTS, type KeywayFeatures, type VariantName } from './routing.js';
import { figures, median, type RunFigures } from './stats.js';
import { ZipfSampler } from './zipf.js';
import { pickNames, repetitions } from './args.js';

const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

export type ScenarioName = 'rolling-restart' | 'scale-out' | 'node-failure';
/** keyway's envoy.routeShape for the keyway variants of this run (--route-shape; undefined: keyway's default). */
let routeShape: 'subset' | 'table' | undefined;
const SCENARIOS: readonly ScenarioName[] = ['rolling-restart', 'scale-out', 'node-failure'];

interface Settings {
  readonly nodes: number;
  /** Nodes after the scale-out. */
  readonly scaledNodes: number;
  readonly keys: number;
  readonly zipfS: number;
  readonly l1PerNode: number;
  readonly shards: number;
  /** Requests per window. */
  readonly window: number;
  /** Requests sent flat out before measuring, to fill the caches. */
  readonly warmupRequests: number;
  /** With `shareFleet`, the warm-up before each later scenario. */
  readonly rewarmRequests: number;
  /** One set of processes for all scenarios of a variant (quick), else a fresh set per scenario. */
  readonly shareFleet: boolean;
  /** Requests in the steady span before the event (at `rate`). */
  readonly steadyRequests: number;
  /** Requests after the event ends. */
  readonly afterRequests: number;
  /** Requests per second while measuring. */
  readonly rate: number;
  readonly concurrency: number;
  /** keyway's handoff.warmTimeoutMs. */
  readonly warmTimeoutMs: number;
  readonly seed: number;
}

const FULL: Settings = {
  nodes: 8,
  scaledNodes: 10,
  keys: 100_000,
  zipfS: 1.0,
  l1PerNode: 2_000,
  shards: 1024,
  window: 2_000,
  warmupRequests: 150_000,
  rewarmRequests: 100_000,
  shareFleet: false,
  steadyRequests: 20_000,
  afterRequests: 40_000,
  rate: 1_000,
  concurrency: 32,
  warmTimeoutMs: 10_000,
  seed: 20_261_201,
};

const QUICK: Settings = {
  ...FULL,
  nodes: 4,
  scaledNodes: 5,
  keys: 8_000,
  l1PerNode: 300,
  window: 400,
  warmupRequests: 8_000,
  rewarmRequests: 3_000,
  steadyRequests: 2_000,
  afterRequests: 3_200,
  rate: 1_000,
  shareFleet: true,
};

interface RunResult {
  readonly variant: VariantName;
  readonly scenario: ScenarioName;
  readonly repetition: number;
  readonly figures: RunFigures;
  /** keyway variants: whether each node's drain said handed off (rolling restart). */
  readonly handedOff?: readonly boolean[];
  readonly errorsByCause: Record<string, number>;
  readonly wallSeconds: number;
}

/** What keyway on this branch supports: `handoff:`/`draining:` in the file, and the agent library. */
function detectFeatures(dir: string): KeywayFeatures {
  const probe = path.join(dir, 'probe.yaml');
  writeFileSync(
    probe,
    'shards: 8\nreplicas: 1\nhandoff: {enabled: false}\nendpoints:\n  - {id: a, address: 127.0.0.1, port: 1, draining: true}\n  - {id: b, address: 127.0.0.1, port: 2}\n',
  );
  const check = spawnSync(process.execPath, [path.join(REPO_ROOT, 'bin', 'keyway.js'), 'check', '--config', probe], { encoding: 'utf8' });
  return { handoff: check.status === 0, agent: existsSync(path.join(REPO_ROOT, 'src', 'agent', 'index.ts')) };
}

/**
 * Runs `scenarios` for one variant: on one set of processes per scenario, or with `shareFleet` on
 * one set for all of them in turn (quick runs: the later scenarios start from where the earlier
 * left the fleet, after a warm-up of their own).
 */
async function runVariant(variant: VariantName, scenarios: readonly ScenarioName[], s: Settings, features: KeywayFeatures, repetition: number): Promise<RunResult[]> {
  if (!s.shareFleet) {
    const out: RunResult[] = [];
    for (const scenario of scenarios) out.push(...(await runFleet(variant, [scenario], s, features, repetition)));
    return out;
  }
  return runFleet(variant, scenarios, s, features, repetition);
}

async function runFleet(variant: VariantName, scenarios: readonly ScenarioName[], s: Settings, features: KeywayFeatures, repetition: number): Promise<RunResult[]> {
  let started = performance.now();
  const dir = mkdtempSync(path.join(os.tmpdir(), `keyway-hitrate-${variant}-`));
  const spare = s.scaledNodes - s.nodes;
  const count = s.nodes + spare * scenarios.filter((x) => x === 'scale-out').length;
  const ports = await freePorts(1 + count);
  const specs: NodeSpec[] = Array.from({ length: count }, (_, i) => ({ id: `cache-${i}`, port: ports[i + 1]! }));
  let members = specs.slice(0, s.nodes);
  let nextSpare = s.nodes;
  const plane = await startPlane({ variant, dir, nodes: members, listenerPort: ports[0]!, shards: s.shards, features, warmTimeoutMs: s.warmTimeoutMs, routeShape });
  const nodes = new Map<string, NodeProcess>();
  const nodeArgs = [...plane.nodeArgs(), '--l1-capacity', String(s.l1PerNode), '--l3-delay-ms', '1'];
  const start = async (spec: NodeSpec): Promise<void> => {
    nodes.set(spec.id, await startNode(spec, nodeArgs, dir));
  };
  const load = new Load({ port: plane.listenerPort, sampler: new ZipfSampler(s.keys, s.zipfS, s.seed), concurrency: s.concurrency });
  const phase = (what: string): void => {
    if (process.env.KEYWAY_BENCH_VERBOSE !== '1') return;
    const errors = [...load.errors().values()].reduce((a, b) => a + b, 0);
    console.log(`    ${((performance.now() - started) / 1000).toFixed(1)} s ${what} (${load.completed} requests, ${errors} errors)`);
  };
  const results: RunResult[] = [];
  try {
    phase('plane up');
    await Promise.all(members.map(start));
    await plane.waitRouted(members);
    phase('nodes up');
    load.start();
    for (const [i, scenario] of scenarios.entries()) {
      if (i > 0) started = performance.now();
      load.setRate(Infinity);
      await load.waitFor(i === 0 ? s.warmupRequests : s.rewarmRequests);
      phase(`${scenario}: warmed up`);
      load.setRate(s.rate);
      const steady = load.mark('steady');
      await load.waitFor(s.steadyRequests);
      const event = load.mark('event');
      const errorsBefore = new Map(load.errors());
      const handedOff: boolean[] = [];
      if (scenario === 'rolling-restart') {
        for (const spec of members) {
          const r = await plane.depart(nodes.get(spec.id)!);
          phase(`${spec.id} departed`);
          if (r.handedOff !== undefined) handedOff.push(r.handedOff);
          await nodes.get(spec.id)!.stop();
          phase(`${spec.id} stopped`);
          await start(spec);
          phase(`${spec.id} started`);
          await plane.join(spec);
          phase(`${spec.id} joined`);
        }
      } else if (scenario === 'scale-out') {
        const extra = specs.slice(nextSpare, nextSpare + spare);
        nextSpare += spare;
        await Promise.all(extra.map(start));
        await Promise.all(extra.map((spec) => plane.join(spec)));
        members = [...members, ...extra];
      } else {
        const victim = members[Math.floor(members.length / 2)]!;
        await nodes.get(victim.id)!.kill();
        await plane.remove(victim);
        members = members.filter((x) => x !== victim);
        await plane.waitRouted(members);
      }
      const eventEnd = load.mark('event-end');
      phase(`${scenario}: event done`);
      await load.waitFor(s.afterRequests);
      const end = load.mark('end');
      phase(`${scenario}: done`);
      const f = figures(
        load.outcomes,
        {
          steadyFrom: steady.index,
          steadyFromMs: steady.atMs,
          eventStart: event.index,
          eventStartMs: event.atMs,
          eventEnd: eventEnd.index,
          eventEndMs: eventEnd.atMs,
          end: end.index,
        },
        s.window,
      );
      const errorsByCause: Record<string, number> = {};
      for (const [cause, n] of load.errors()) if (n > (errorsBefore.get(cause) ?? 0)) errorsByCause[cause] = n - (errorsBefore.get(cause) ?? 0);
      results.push({
        variant,
        scenario,
        repetition,
        figures: f,
        ...(handedOff.length > 0 ? { handedOff } : {}),
        errorsByCause,
        wallSeconds: (performance.now() - started) / 1000,
      });
    }
    return results;
  } finally {
    await load.stop();
    await Promise.all([...nodes.values()].map((n) => n.stop()));
    await plane.close();
    if (process.env.KEYWAY_BENCH_KEEP !== '1') rmSync(dir, { recursive: true, force: true });
  }
}

function fmt(x: number, digits = 3): string {
  return x.toFixed(digits);
}

/** "median (min-max)" over repetitions, or the one value. */
function spread(xs: readonly number[], digits = 3): string {
  if (xs.length === 1) return fmt(xs[0]!, digits);
  return `${fmt(median(xs), digits)} (${fmt(Math.min(...xs), digits)}-${fmt(Math.max(...xs), digits)})`;
}

function table(results: readonly RunResult[], scenario: ScenarioName, variants: readonly VariantName[]): string {
  const rows = [
    ['variant', 'steady L1', 'min window L1', 'min / steady', 'excess cold requests', 'windows to recover', 'errors', 'event s'],
    ...variants.map((v) => {
      const rs = results.filter((r) => r.variant === v && r.scenario === scenario).map((r) => r.figures);
      if (rs.length === 0) return [v, '-', '-', '-', '-', '-', '-', '-'];
      const recover = rs.map((f) => f.windowsToRecover);
      return [
        v,
        spread(rs.map((f) => f.steadyL1)),
        spread(rs.map((f) => f.minWindowL1)),
        spread(rs.map((f) => f.minOverSteady)),
        spread(rs.map((f) => f.excessCold), 0),
        recover.every((x) => x !== null) ? spread(recover as number[], 0) : recover.map((x) => (x === null ? 'never' : String(x))).join(', '),
        spread(rs.map((f) => f.errors), 0),
        spread(rs.map((f) => f.eventSeconds), 1),
      ];
    }),
  ];
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  const line = (r: string[]) => `| ${r.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`;
  return [line(rows[0]!), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...rows.slice(1).map(line)].join('\n');
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      quick: { type: 'boolean' },
      repeat: { type: 'string' },
      variants: { type: 'string' },
      scenarios: { type: 'string' },
      'no-build': { type: 'boolean' },
      'route-shape': { type: 'string' },
    },
  });
  const shape = values['route-shape'];
  if (shape !== undefined && shape !== 'subset' && shape !== 'table') throw new Error(`--route-shape must be subset or table, got ${shape}`);
  routeShape = shape;
  const s = values.quick ? QUICK : FULL;
  const repeat = repetitions(values.repeat, 1);
  const variants = pickNames(values.variants, VARIANTS, 'variant');
  const scenarios = pickNames(values.scenarios, SCENARIOS, 'scenario');
  if (!existsSync(envoyBinaryPath())) throw new Error(`Envoy not found at ${envoyBinaryPath()} (run scripts/install-envoy.sh or set KEYWAY_ENVOY)`);
  if (!values['no-build'] && variants.some((v) => v.startsWith('keyway'))) {
    const build = spawnSync('npm', ['run', '-s', 'build'], { cwd: REPO_ROOT, stdio: 'inherit' });
    if (build.status !== 0) throw new Error('npm run build failed');
  }
  const probeDir = mkdtempSync(path.join(os.tmpdir(), 'keyway-hitrate-probe-'));
  const features = detectFeatures(probeDir);
  rmSync(probeDir, { recursive: true, force: true });
  const sampler = new ZipfSampler(s.keys, s.zipfS, s.seed);
  console.log(
    `hit-rate benchmark${values.quick ? ' (quick)' : ''}: ${s.nodes} nodes (scale-out to ${s.scaledNodes}), ${s.keys} keys Zipf s=${s.zipfS}, ` +
      `L1 ${s.l1PerNode}/node (${((100 * s.nodes * s.l1PerNode) / s.keys).toFixed(0)}% of keys; the top ${s.nodes * s.l1PerNode} keys get ` +
      `${(100 * sampler.topShare(s.nodes * s.l1PerNode)).toFixed(1)}% of requests), window ${s.window} requests, ${s.rate} req/s, repeat ${repeat}`,
  );
  console.log(`keyway on this branch: handoff settings ${features.handoff ? 'yes' : 'no'}, ownership agent ${features.agent ? 'yes' : 'no (nodes poll REST)'}`);

  const results: RunResult[] = [];
  const t0 = performance.now();
  const report = (batch: readonly RunResult[]): void => {
    for (const r of batch) {
      results.push(r);
      line(r);
    }
  };
  const line = (r: RunResult): void => {
    const f = r.figures;
    console.log(
      `  ${r.scenario} ${r.variant} #${r.repetition + 1}: steady L1 ${fmt(f.steadyL1)}, min window ${fmt(f.minWindowL1)} (${fmt(f.minOverSteady)} of steady), ` +
        `excess cold ${f.excessCold}, errors ${f.errors}, event ${fmt(f.eventSeconds, 1)} s, ${fmt(f.steadyRate, 0)} req/s, run ${fmt(r.wallSeconds, 0)} s` +
        (r.handedOff ? `, handed off ${r.handedOff.filter(Boolean).length}/${r.handedOff.length}` : ''),
    );
  };
  for (let rep = 0; rep < repeat; rep++) {
    // Alternate the order of the variants from one repetition to the next.
    const order = rep % 2 === 0 ? variants : [...variants].reverse();
    if (s.shareFleet) {
      for (const variant of order) report(await runVariant(variant, scenarios, s, features, rep));
    } else {
      for (const scenario of scenarios) for (const variant of order) report(await runVariant(variant, [scenario], s, features, rep));
    }
  }
  console.log('');
  for (const scenario of scenarios) {
    console.log(`### ${scenario}\n`);
    console.log(table(results, scenario, variants));
    console.log('');
  }
  const out = path.join(REPO_ROOT, 'benchmarks', 'results', values.quick ? 'hitrate-quick.json' : 'hitrate.json');
  mkdirSync(path.dirname(out), { recursive: true });
  writeFileSync(
    out,
    `${JSON.stringify(
      {
        date: new Date().toISOString(),
        machine: { cpus: os.cpus().length, model: os.cpus()[0]?.model, node: process.version, envoy: envoyVersion(envoyBinaryPath()), loadavg: os.loadavg() },
        settings: { ...s, quick: values.quick === true, repeat },
        keyway: features,
        results,
        wallSeconds: (performance.now() - t0) / 1000,
      },
      null,
      2,
    )}\n`,
  );
  console.log(`wrote ${path.relative(REPO_ROOT, out)} (${fmt((performance.now() - t0) / 1000, 0)} s)`);
}

void main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error((err as Error).stack ?? String(err));
    process.exit(1);
  },
);
