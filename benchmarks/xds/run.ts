/**
 * xDS fan-out side by side (docs/benchmarks.md "xDS fan-out"): keyway and a go-control-plane
 * snapshot-cache server (benchmarks/peers/go-control-plane, serving keyway's own resources, checked
 * equal by content first) take the same change — one of 64 endpoints leaves (R = 2), then comes back —
 * while N Envoy-like ADS streams (benchmarks/xds/worker.ts, child processes, one HTTP/2 connection
 * per stream, every response ACKed) watch. Per change: per-stream time from the change (the topology
 * write for keyway, the POST of the new dump for the peer) until the stream received every changed
 * type; the server's CPU seconds until quiet; bytes the streams received. Per run: RSS before and after
 * the streams connect. Variants alternate (keyway, peer, keyway, peer...) on each cell.
 *
 *   npm run build && npm run bench:xds -- [--quick] [--n 100,1000,5000] [--s 1024,16384] [--modes sotw,delta]
 *        [--rounds 2] [--changes 3] [--warmup 5] [--big 1000] [--only keyway|peer] [--no-build]
 *
 * keyway's change is a ConfigMap volume update of its topology file (the `..data` swap, read at once);
 * an in-place write or a rename onto the file itself would add the file source's 20 ms hold-off.
 * Each run first makes --warmup changes it does not measure (both servers alike): the first changes
 * after start pay for JIT compilation and heap growth, which a control plane in service has paid.
 * S = 16384 runs only at the N listed in --big (default 1000). --quick: N = 100, S = 1024, both modes,
 * one round of one change (the CI smoke run). Writes benchmarks/results/xds.json (xds-quick.json).
 */
import { fork, execFileSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir, cpus } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { changedTypes, differences, fetchResources, writeDump, TYPES, WILDCARD_TYPES, type Resources } from './dump.js';
import { cpuSeconds, peerBinary, rssBytes, startKeywayServer, startPeerServer, type BenchServer } from './servers.js';
import type { Answer, Command, Mode, Subscription } from './worker.js';

const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const NODES = 64;

function topology(shards: number, nodes: number): string {
  const lines = [`shards: ${shards}`, 'replicas: 2', 'spread: zone', 'service: keyway-cache', 'envoy: {missingHeader: reject}', 'endpoints:'];
  for (let i = 0; i < nodes; i++) {
    lines.push(`  - id: node-${i}`, '    address: 127.0.0.1', `    port: ${7000 + i}`, `    locality: {region: r, zone: z${i % 4}, subzone: nvl-${i % 16}}`, '    weight: 10');
  }
  return `${lines.join('\n')}\n`;
}

let generation = 0;

/**
 * The topology file in a ConfigMap volume's layout (`topology.yaml` -> `..data/topology.yaml`,
 * `..data` -> a generation directory), and each change as kubelet makes it: the new files written
 * first, then `..data` renamed over. keyway reads that swap at once; a rename onto the file itself
 * waits the file source's 20 ms hold-off (docs/configuration.md "Reloading").
 */
function writeConfigMap(file: string, text: string): void {
  const dir = path.dirname(file);
  const gen = `..gen-${++generation}`;
  mkdirSync(path.join(dir, gen));
  writeFileSync(path.join(dir, gen, path.basename(file)), text);
  symlinkSync(gen, path.join(dir, '..data_tmp'));
  renameSync(path.join(dir, '..data_tmp'), path.join(dir, '..data'));
  if (!existsSync(file)) symlinkSync(path.join('..data', path.basename(file)), file);
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const now = (): number => performance.timeOrigin + performance.now();

/** A worker process of the load client. */
class Worker {
  readonly #child: ChildProcess;
  readonly #waiting: ((a: Answer) => void)[] = [];
  constructor() {
    this.#child = fork(path.join(REPO_ROOT, 'benchmarks', 'xds', 'worker.ts'), [], { execArgv: ['--import', 'tsx', '--max-old-space-size=4096'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    this.#child.on('message', (a: Answer) => this.#waiting.shift()?.(a));
  }
  ask<A extends Answer>(c: Command): Promise<A> {
    return new Promise((resolve) => {
      this.#waiting.push(resolve as (a: Answer) => void);
      this.#child.send(c);
    });
  }
  close(): void {
    this.#child.send({ cmd: 'close' } satisfies Command);
  }
}

interface Fixture {
  readonly shards: number;
  readonly dir: string;
  readonly topoFile: string;
  readonly a: Resources;
  readonly b: Resources;
  readonly dumpA: string;
  readonly dumpB: string;
  readonly changed: string[];
  readonly subscriptions: Subscription[];
}

/** Dumps what keyway serves before and after the change (A: 64 endpoints, B: node-63 gone). */
async function fixture(shards: number): Promise<Fixture> {
  const dir = mkdtempSync(path.join(tmpdir(), 'keyway-bench-xds-'));
  const topoFile = path.join(dir, 'topology.yaml');
  writeConfigMap(topoFile, topology(shards, NODES));
  const k = await startKeywayServer(topoFile, () => {});
  try {
    const a = await fetchResources(k.xdsPort);
    writeConfigMap(topoFile, topology(shards, NODES - 1));
    let b = a;
    for (let i = 0; i < 100 && changedTypes(a, b).length === 0; i++) {
      await sleep(200);
      b = await fetchResources(k.xdsPort);
    }
    const changed = changedTypes(a, b);
    if (changed.length === 0) throw new Error('the change changed nothing');
    const dumpA = path.join(dir, 'a.json');
    const dumpB = path.join(dir, 'b.json');
    writeDump(dumpA, 'v1', a);
    writeDump(dumpB, 'v1b', b);
    const subscriptions = Object.keys(TYPES).map((typeUrl) => ({ typeUrl, names: WILDCARD_TYPES.has(typeUrl) ? [] : [...a.get(typeUrl)!.keys()].sort() }));
    for (const t of Object.keys(TYPES)) if (!WILDCARD_TYPES.has(t) && [...b.get(t)!.keys()].sort().join() !== [...a.get(t)!.keys()].sort().join()) throw new Error(`the change renames ${t} resources`);
    return { shards, dir, topoFile, a, b, dumpA, dumpB, changed, subscriptions };
  } finally {
    writeConfigMap(topoFile, topology(shards, NODES));
    await k.stop();
  }
}

interface RunResult {
  readonly variant: 'keyway' | 'peer';
  readonly mode: Mode;
  readonly n: number;
  readonly shards: number;
  readonly failed: number;
  readonly connectMs: number;
  readonly rssIdle: number;
  readonly rssConnected: number;
  readonly changes: { p50: number; p99: number; max: number; converged: number; cpuS: number; bytes: number; responses: number }[];
}

const pct = (sorted: readonly number[], p: number): number => sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;

async function run(variant: 'keyway' | 'peer', fx: Fixture, mode: Mode, n: number, changes: number, warmup: number, peerBin: string): Promise<RunResult> {
  writeConfigMap(fx.topoFile, topology(fx.shards, NODES));
  const server: BenchServer =
    variant === 'keyway'
      ? await startKeywayServer(fx.topoFile, (toB) => writeConfigMap(fx.topoFile, topology(fx.shards, toB ? NODES - 1 : NODES)))
      : await startPeerServer(peerBin, fx.dumpA, fx.dumpB);
  const workers: Worker[] = [];
  try {
    if (variant === 'peer') {
      // Same content as keyway's, by decoded message, before measuring.
      const got = await fetchResources(server.xdsPort, fx.a);
      const diffs = differences(fx.a, got);
      if (diffs.length > 0) throw new Error(`the peer does not serve keyway's resources: ${diffs.slice(0, 5).join('; ')}`);
    }
    await sleep(1000);
    const pid = server.pid();
    const rssIdle = rssBytes(pid);
    const w = Math.min(4, Math.max(1, Math.ceil(n / 1250)));
    for (let i = 0; i < w; i++) workers.push(new Worker());
    const t0 = now();
    const per = Math.ceil(n / w);
    const connected = await Promise.all(
      workers.map((wk, i) => wk.ask<Extract<Answer, { cmd: 'connected' }>>({ cmd: 'connect', port: server.xdsPort, mode, first: i * per, count: Math.min(per, n - i * per), subscriptions: fx.subscriptions })),
    );
    const connectMs = now() - t0;
    const failed = connected.reduce((s, c) => s + c.failed, 0);
    await sleep(Math.min(5000, 1000 + n));
    const rssConnected = rssBytes(pid);
    const out: RunResult['changes'] = [];
    for (let c = 0; c < warmup + changes; c++) {
      await Promise.all(workers.map((wk) => wk.ask({ cmd: 'arm', types: fx.changed })));
      const cpu0 = cpuSeconds(pid);
      const start = now();
      await server.change(c % 2 === 0, c);
      let times: number[] = [];
      let bytes = 0;
      let responses = 0;
      const deadline = start + 120_000;
      for (;;) {
        await sleep(50);
        const got = await Promise.all(workers.map((wk) => wk.ask<Extract<Answer, { cmd: 'collected' }>>({ cmd: 'collect' })));
        times = got.flatMap((g) => g.times);
        if (times.every((t) => t > 0) || now() > deadline) break;
      }
      // Quiet: ACKs handled, nothing more sent.
      await sleep(500);
      const cpuS = cpuSeconds(pid) - cpu0;
      const fin = await Promise.all(workers.map((wk) => wk.ask<Extract<Answer, { cmd: 'collected' }>>({ cmd: 'collect' })));
      bytes = fin.reduce((s, g) => s + g.bytes, 0);
      responses = fin.reduce((s, g) => s + g.responses, 0);
      const conv = times.filter((t) => t > 0).map((t) => t - start).sort((x, y) => x - y);
      if (c >= warmup) out.push({ p50: pct(conv, 50), p99: pct(conv, 99), max: conv[conv.length - 1]!, converged: conv.length, cpuS, bytes, responses });
      process.stderr.write(`  ${c < warmup ? '(warm-up) ' : ''}${variant} ${mode} N=${n} S=${fx.shards} change ${c + 1 - warmup}: p50 ${conv.length ? pct(conv, 50).toFixed(0) : '-'} p99 ${conv.length ? pct(conv, 99).toFixed(0) : '-'} max ${conv.length ? conv[conv.length - 1]!.toFixed(0) : '-'} ms (${conv.length}/${times.length}), CPU ${cpuS.toFixed(2)} s, ${(bytes / 1024).toFixed(0)} KiB\n`);
      await sleep(300);
    }
    return { variant, mode, n, shards: fx.shards, failed, connectMs, rssIdle, rssConnected, changes: out };
  } finally {
    for (const wk of workers) wk.close();
    await sleep(200);
    await server.stop();
  }
}

const median = (xs: readonly number[]): number => {
  const s = [...xs].filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  return s.length === 0 ? NaN : s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};
const range = (xs: readonly number[], digits = 0): string => (xs.length < 2 ? '' : ` (${Math.min(...xs).toFixed(digits)}-${Math.max(...xs).toFixed(digits)})`);

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      quick: { type: 'boolean', default: false },
      n: { type: 'string' },
      s: { type: 'string' },
      big: { type: 'string', default: '1000' },
      modes: { type: 'string', default: 'sotw,delta' },
      rounds: { type: 'string' },
      changes: { type: 'string' },
      warmup: { type: 'string' },
      'no-build': { type: 'boolean', default: false },
      only: { type: 'string' },
    },
  });
  const quick = values.quick;
  const ns = (values.n ?? (quick ? '100' : '100,1000,5000')).split(',').map(Number);
  const ss = (values.s ?? (quick ? '1024' : '1024,16384')).split(',').map(Number);
  const big = new Set(values.big.split(',').map(Number));
  const modes = values.modes.split(',') as Mode[];
  const rounds = Number(values.rounds ?? (quick ? 1 : 2));
  const changes = Number(values.changes ?? (quick ? 1 : 3));
  const warmup = Number(values.warmup ?? 5);
  if (!values['no-build']) execFileSync('npm', ['run', '--silent', 'build'], { cwd: REPO_ROOT, stdio: 'inherit' });
  const peerBin = peerBinary(REPO_ROOT);
  const results: RunResult[] = [];
  const fixtures: Fixture[] = [];
  try {
    for (const s of ss) {
      const fx = await fixture(s);
      fixtures.push(fx);
      process.stderr.write(`S=${s}: change updates ${fx.changed.map((t) => t.slice(t.lastIndexOf('.') + 1)).join(', ')}\n`);
      for (const mode of modes) {
        for (const n of ns) {
          if (s > 1024 && !big.has(n)) continue;
          for (let r = 0; r < rounds; r++) {
            // Alternate which variant goes first from round to round.
            const order: ('keyway' | 'peer')[] = r % 2 === 0 ? ['keyway', 'peer'] : ['peer', 'keyway'];
            for (const v of order) if (!values.only || values.only === v) results.push(await run(v, fx, mode, n, changes, warmup, peerBin));
          }
        }
      }
    }
  } finally {
    for (const fx of fixtures) rmSync(fx.dir, { recursive: true, force: true });
  }

  type Row = { mode: Mode; n: number; s: number; v: 'keyway' | 'peer'; p50: number[]; p99: number[]; max: number[]; cpu: number[]; bytes: number[]; idle: number[]; conn: number[]; failed: number };
  const rows = new Map<string, Row>();
  for (const r of results) {
    const key = `${r.mode} ${r.n} ${r.shards} ${r.variant}`;
    const row = rows.get(key) ?? { mode: r.mode, n: r.n, s: r.shards, v: r.variant, p50: [], p99: [], max: [], cpu: [], bytes: [], idle: [], conn: [], failed: 0 };
    for (const c of r.changes) {
      row.p50.push(c.p50);
      row.p99.push(c.p99);
      row.max.push(c.max);
      row.cpu.push(c.cpuS);
      row.bytes.push(c.bytes);
    }
    row.idle.push(r.rssIdle);
    row.conn.push(r.rssConnected);
    row.failed += r.failed + r.changes.reduce((s, c) => s + (r.n - c.converged), 0);
    rows.set(key, row);
  }
  const MB = 1024 * 1024;
  console.log(`xDS fan-out: ${NODES} endpoints, R = 2, change = one endpoint leaves / returns; ${rounds} round(s) x ${changes} change(s) after ${warmup} warm-up change(s); medians (range); ${cpus().length} CPUs`);
  console.log('| mode | N | S | server | conv p50 ms | conv p99 ms | conv max ms | CPU s/change | RSS idle MB | RSS connected MB | KiB/stream | KiB/change | missed |');
  console.log('|---|---|---|---|---|---|---|---|---|---|---|---|---|');
  const ratios: string[] = [];
  for (const row of rows.values()) {
    const perStream = row.conn.map((c, i) => (c - row.idle[i]!) / row.n / 1024);
    console.log(
      `| ${row.mode} | ${row.n} | ${row.s} | ${row.v === 'keyway' ? 'keyway' : 'go-control-plane'} | ${median(row.p50).toFixed(0)}${range(row.p50)} | ${median(row.p99).toFixed(0)}${range(row.p99)} | ${median(row.max).toFixed(0)}${range(row.max)} | ${median(row.cpu).toFixed(2)}${range(row.cpu, 2)} | ${(median(row.idle) / MB).toFixed(0)} | ${(median(row.conn) / MB).toFixed(0)} | ${median(perStream).toFixed(1)} | ${(median(row.bytes) / 1024).toFixed(0)} | ${row.failed} |`,
    );
    if (row.v !== 'keyway') continue;
    const peer = rows.get(`${row.mode} ${row.n} ${row.s} peer`);
    if (!peer) continue;
    const q = (a: number[], b: number[]): string => (median(a) / median(b)).toFixed(2);
    const ps = (r: Row): number[] => r.conn.map((c, i) => (c - r.idle[i]!) / r.n);
    ratios.push(`| ${row.mode} | ${row.n} | ${row.s} | ${q(row.p50, peer.p50)} | ${q(row.p99, peer.p99)} | ${q(row.max, peer.max)} | ${q(row.cpu, peer.cpu)} | ${q(ps(row), ps(peer))} | ${q(row.idle, peer.idle)} | ${q(row.bytes, peer.bytes)} |`);
  }
  console.log('\nkeyway / go-control-plane (medians; <= 1 is keyway better or equal):');
  console.log('| mode | N | S | p50 | p99 | max | CPU/change | RSS/stream | RSS idle | bytes/change |');
  console.log('|---|---|---|---|---|---|---|---|---|---|');
  for (const r of ratios) console.log(r);
  const file = path.join(REPO_ROOT, 'benchmarks', 'results', quick ? 'xds-quick.json' : 'xds.json');
  writeFileSync(file, `${JSON.stringify({ command: process.argv.slice(2), date: new Date().toISOString(), cpus: cpus().length, results }, null, 2)}\n`);
  process.exit(0);
}

await main();
