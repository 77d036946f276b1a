/**
 * What routing through keyway's endpoint picker costs against keyway's native xDS routing:
 * `npm run bench:extproc`. Writes benchmarks/results/ext-proc.json (--quick: ext-proc-quick.json) and prints the table
 * docs/benchmarks.md quotes ("Endpoint picker (ext_proc) against native xDS routing").
 *
 * `keyway serve` (xDS and `--ext-proc-port`; a second replica serves picker+rs, so keyway's CPU
 * per request is measured per variant), four backends (benchmarks/ext-proc/backends.ts,
 * a child process), two real Envoys (`--concurrency 1`, the pinned build or KEYWAY_ENVOY), same
 * S = 1024, R = 2 map:
 *   native:    Envoy on ADS to keyway: keyway's listener, routes and subset-LB cluster;
 *   picker:    Envoy as the gateways configure it (e2e/support/ext-proc-gateway.ts): the ext_proc
 *              filter on the request headers, override_host cluster;
 *   picker+rs: the same, also sending the response headers (the served-endpoint metric): two
 *              picker messages per request.
 * Every request carries `x-cache-shard` (cycling over the shards) and must be answered by the
 * shard's primary; misrouted answers are counted. The variants alternate (rotating order) for
 * ROUNDS rounds; each round measures latency (LAT_N sequential requests on one keep-alive
 * connection: p50, p99) and throughput (CONC keep-alive connections for THR_MS: requests/s).
 * Medians over rounds with min-max, and ratios against native.
 *
 * Flags: --rounds N (default 5), --quick (2 rounds, shorter runs), --no-build.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { adsBootstrap } from '../../e2e/support/bootstrap.js';
import { envoyBinaryPath, envoyVersion, startEnvoy, type EnvoyProcess } from '../../e2e/support/envoy.js';
import { gatewayBootstrap } from '../../e2e/support/ext-proc-gateway.js';
import { startKeyway } from '../../e2e/support/keyway.js';
import { freePorts } from '../../e2e/support/ports.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const REPO = path.resolve(here, '..', '..');
const S = 1024;
const VARIANTS = ['native', 'picker', 'picker+rs'] as const;
type Variant = (typeof VARIANTS)[number];

const { values } = parseArgs({ options: { rounds: { type: 'string' }, quick: { type: 'boolean' }, 'no-build': { type: 'boolean' } } });
const QUICK = values.quick === true;
const ROUNDS = Number(values.rounds ?? (QUICK ? 2 : 5));
const LAT_N = QUICK ? 500 : 3000;
const THR_MS = QUICK ? 1000 : 3000;
const CONC = 16;

interface Sample {
  /** CPU time (user + system) per request during the throughput phase, µs: the variant's Envoy, and keyway. */
  readonly envoyCpuUs: number;
  readonly keywayCpuUs: number;
  /** Statuses other than 200, by status. */
  readonly statuses: Record<string, number>;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly rps: number;
  readonly misrouted: number;
  readonly errors: number;
}

interface Stat {
  readonly median: number;
  readonly min: number;
  readonly max: number;
}

function quantile(sorted: readonly number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
}

/** One request; resolves with the served-by header and the status. */
function request(agent: http.Agent, port: number, shard: number): Promise<{ status: number; servedBy: string | undefined }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path: '/', agent, headers: { 'x-cache-shard': String(shard) } }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0, servedBy: res.headers['x-served-by'] as string | undefined }));
    });
    req.on('error', reject);
    req.end();
  });
}

const CLOCK_TICK_HZ = 100; // USER_HZ on Linux

/** utime + stime of a process, in clock ticks (/proc/PID/stat fields 14 and 15). */
function cpuTicks(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(fields[11]) + Number(fields[12]);
}

async function measure(port: number, primary: readonly string[], offset: number, pids: { envoy: number; keyway: number }): Promise<Sample> {
  let misrouted = 0;
  let errors = 0;
  const statuses: Record<string, number> = {};
  const check = (r: { status: number; servedBy: string | undefined }, shard: number): void => {
    if (r.status !== 200) {
      errors++;
      statuses[r.status] = (statuses[r.status] ?? 0) + 1;
    } else if (r.servedBy !== primary[shard]) misrouted++;
  };
  // Latency: sequential on one keep-alive connection.
  const one = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const times: number[] = [];
  for (let i = 0; i < 200; i++) check(await request(one, port, (offset + i) % S), (offset + i) % S); // warm-up
  for (let i = 0; i < LAT_N; i++) {
    const shard = (offset + i * 7) % S;
    const t0 = process.hrtime.bigint();
    const r = await request(one, port, shard);
    times.push(Number(process.hrtime.bigint() - t0) / 1e6);
    check(r, shard);
  }
  one.destroy();
  times.sort((a, b) => a - b);
  // Throughput: CONC connections, closed loop, for THR_MS.
  const many = new http.Agent({ keepAlive: true, maxSockets: CONC });
  let done = 0;
  const end = Date.now() + THR_MS;
  const cpu0 = { envoy: cpuTicks(pids.envoy), keyway: cpuTicks(pids.keyway) };
  const t0 = process.hrtime.bigint();
  await Promise.all(
    Array.from({ length: CONC }, async (_, w) => {
      let i = w;
      while (Date.now() < end) {
        const shard = (offset + i * 13) % S;
        check(await request(many, port, shard), shard);
        done++;
        i += CONC;
      }
    }),
  );
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const perRequestUs = (ticks: number): number => (ticks / CLOCK_TICK_HZ / done) * 1e6;
  const envoyCpuUs = perRequestUs(cpuTicks(pids.envoy) - cpu0.envoy);
  const keywayCpuUs = perRequestUs(cpuTicks(pids.keyway) - cpu0.keyway);
  many.destroy();
  return { envoyCpuUs, keywayCpuUs, statuses, p50Ms: quantile(times, 0.5), p99Ms: quantile(times, 0.99), rps: done / seconds, misrouted, errors };
}

async function waitRouted(port: number, primary: readonly string[]): Promise<void> {
  const agent = new http.Agent({ keepAlive: false });
  for (let attempt = 0; attempt < 200; attempt++) {
    try {
      const r = await request(agent, port, 1);
      if (r.status === 200 && r.servedBy === primary[1]) return;
    } catch {
      // not listening yet
    }
    await new Promise((res) => setTimeout(res, 100));
  }
  throw new Error(`listener :${port} never routed shard 1 to its primary`);
}

async function main(): Promise<void> {
  if (!values['no-build']) {
    const build = spawnSync('npm', ['run', '-s', 'build'], { cwd: REPO, stdio: 'inherit' });
    if (build.status !== 0) throw new Error('npm run build failed');
  }
  const backends = spawn(process.execPath, ['--import', 'tsx', path.join(here, 'backends.ts'), '4'], { cwd: REPO, stdio: ['ignore', 'pipe', 'inherit'] });
  const ports = await new Promise<number[]>((resolve, reject) => {
    backends.stdout.once('data', (b: Buffer) => resolve(JSON.parse(b.toString()) as number[]));
    backends.once('exit', (code) => reject(new Error(`backends exited ${code}`)));
  });
  const dir = mkdtempSync(path.join(os.tmpdir(), 'keyway-bench-extproc-'));
  const envoys: EnvoyProcess[] = [];
  let keyway: Awaited<ReturnType<typeof startKeyway>> | undefined;
  let keywayRs: Awaited<ReturnType<typeof startKeyway>> | undefined;
  try {
    const [nativePort, pickerPort, pickerRsPort, extProcPort, extProcRsPort] = await freePorts(5);
    const file = path.join(dir, 'topology.yaml');
    const lines = [`shards: ${S}`, 'replicas: 2', 'spread: none', `envoy: {listenerPort: ${nativePort}}`, 'endpoints:'];
    ports.forEach((p, i) => lines.push(`  - {id: node-${i}, address: 127.0.0.1, port: ${p}, locality: {region: r, zone: z, subzone: s${i}}, weight: 1}`));
    writeFileSync(file, `${lines.join('\n')}\n`);
    keyway = await startKeyway({ configPath: file, logLevel: 'warn', args: ['--ext-proc-port', String(extProcPort)] });
    // A second replica for picker+rs, so each picker variant has its own keyway to measure.
    keywayRs = await startKeyway({ configPath: file, logLevel: 'warn', args: ['--ext-proc-port', String(extProcRsPort)] });
    const map = (await (await fetch(`${keyway.httpUrl}/v1/shardmap`)).json()) as { shards: { owners: string[] }[]; endpoints: { id: string; port: number }[] };
    const addr = new Map(map.endpoints.map((e) => [e.id, `127.0.0.1:${e.port}`]));
    const primary = map.shards.map((s) => addr.get(s.owners[0]!)!);

    envoys.push(await startEnvoy({ bootstrap: adsBootstrap({ xdsPort: keyway.xdsPort, nodeId: 'bench-native' }) }));
    /** A gateway Envoy with one listener on `listenPort` calling the picker on `pickerPort`. */
    const gateway = (name: string, listenPort: number, pickerPort: number, servedHeader?: string) =>
      startEnvoy({
        bootstrap: gatewayBootstrap({
          listeners: [{ name, port: listenPort, picker: 'keyway' }],
          pickers: { keyway: pickerPort },
          backends: ports.map((port) => ({ address: '127.0.0.1', port })),
          ...(servedHeader ? { servedHeader } : {}),
        }),
      });
    envoys.push(await gateway('picker', pickerPort!, extProcPort!));
    envoys.push(await gateway('picker_rs', pickerRsPort!, extProcRsPort!, 'x-served-by'));
    const portOf: Record<Variant, number> = { native: nativePort!, picker: pickerPort!, 'picker+rs': pickerRsPort! };
    const envoyOf: Record<Variant, EnvoyProcess> = { native: envoys[0]!, picker: envoys[1]!, 'picker+rs': envoys[2]! };
    for (const v of VARIANTS) await waitRouted(portOf[v], primary);

    const samples: Record<Variant, Sample[]> = { native: [], picker: [], 'picker+rs': [] };
    for (let round = 0; round < ROUNDS; round++) {
      const order = VARIANTS.map((_, i) => VARIANTS[(i + round) % VARIANTS.length]!);
      for (const v of order) {
        const s = await measure(portOf[v], primary, round * 101, { envoy: envoyOf[v].pid, keyway: (v === 'picker+rs' ? keywayRs : keyway).pid() });
        samples[v].push(s);
        console.log(
          `round ${round + 1}/${ROUNDS} ${v.padEnd(9)} p50 ${s.p50Ms.toFixed(3)} ms  p99 ${s.p99Ms.toFixed(3)} ms  ${s.rps.toFixed(0)} req/s  ` +
            `cpu/req envoy ${s.envoyCpuUs.toFixed(0)} µs keyway ${s.keywayCpuUs.toFixed(0)} µs  misrouted ${s.misrouted} errors ${s.errors} ${JSON.stringify(s.statuses)}`,
        );
      }
    }

    const summary = Object.fromEntries(
      VARIANTS.map((v) => {
        const xs = samples[v];
        const stat = (f: (s: Sample) => number) => ({ median: median(xs.map(f)), min: Math.min(...xs.map(f)), max: Math.max(...xs.map(f)) });
        return [v, { p50Ms: stat((s) => s.p50Ms), p99Ms: stat((s) => s.p99Ms), rps: stat((s) => s.rps), envoyCpuUs: stat((s) => s.envoyCpuUs), keywayCpuUs: stat((s) => s.keywayCpuUs), misrouted: xs.reduce((a, s) => a + s.misrouted, 0), errors: xs.reduce((a, s) => a + s.errors, 0) }];
      }),
    ) as Record<Variant, Record<'p50Ms' | 'p99Ms' | 'rps' | 'envoyCpuUs' | 'keywayCpuUs', Stat> & { misrouted: number; errors: number }>;
    const base = summary.native;
    console.log('\n| variant | p50 ms (min-max) | p99 ms (min-max) | req/s at 16 conns (min-max) | p50 vs native | p99 vs native | req/s vs native | added p50 | Envoy CPU/req µs | keyway CPU/req µs | misrouted/errors |');
    console.log('|---|---|---|---|---|---|---|---|---|---|---|');
    const f = (x: Stat, d: number) => `${x.median.toFixed(d)} (${x.min.toFixed(d)}-${x.max.toFixed(d)})`;
    for (const v of VARIANTS) {
      const s = summary[v];
      console.log(
        `| ${v} | ${f(s.p50Ms, 3)} | ${f(s.p99Ms, 3)} | ${f(s.rps, 0)} | ${(s.p50Ms.median / base.p50Ms.median).toFixed(2)}x | ${(s.p99Ms.median / base.p99Ms.median).toFixed(2)}x | ${(s.rps.median / base.rps.median).toFixed(2)}x | +${((s.p50Ms.median - base.p50Ms.median) * 1000).toFixed(0)} µs | ${f(s.envoyCpuUs, 0)} | ${f(s.keywayCpuUs, 0)} | ${s.misrouted}/${s.errors} |`,
      );
    }
    // Paired ratios: each round's picker figure over the same round's native one (adjacent in time,
    // so a load swing of the shared machine hits both), median (min-max) over rounds.
    const paired: Record<string, Record<string, Stat>> = {};
    for (const v of ['picker', 'picker+rs'] as const) {
      const ratio = (f: (s: Sample) => number): Stat => {
        const rs = samples[v].map((s, i) => f(s) / f(samples.native[i]!));
        return { median: median(rs), min: Math.min(...rs), max: Math.max(...rs) };
      };
      paired[v] = { p50: ratio((s) => s.p50Ms), p99: ratio((s) => s.p99Ms), rps: ratio((s) => s.rps), envoyCpu: ratio((s) => s.envoyCpuUs) };
      const r = paired[v];
      console.log(
        `${v} / native, paired by round: p50 ${f(r.p50!, 2)}x  p99 ${f(r.p99!, 2)}x  req/s ${f(r.rps!, 2)}x  Envoy CPU/req ${f(r.envoyCpu!, 2)}x`,
      );
    }
    // Envoy's own view of the picker streams (failed streams, timeouts), for the record.
    const extProcStats: Record<string, Record<string, number>> = {};
    for (const v of ['picker', 'picker+rs'] as const) {
      const text = await envoyOf[v].admin('/stats?filter=ext_proc');
      extProcStats[v] = Object.fromEntries(
        text
          .split('\n')
          .map((l) => l.split(': '))
          .filter(([k, n]) => k && Number(n) > 0)
          .map(([k, n]) => [k!, Number(n)]),
      );
      console.log(`${v} Envoy ext_proc stats: ${JSON.stringify(extProcStats[v])}`);
    }
    const result = {
      extProcStats,
      paired,
      date: new Date().toISOString(),
      machine: { cpus: os.cpus().length, model: os.cpus()[0]?.model, node: process.version, envoy: envoyVersion(envoyBinaryPath()) },
      settings: { shards: S, replicas: 2, backends: ports.length, rounds: ROUNDS, latencyRequests: LAT_N, throughputMs: THR_MS, connections: CONC, quick: QUICK },
      summary,
      samples,
    };
    mkdirSync(path.join(REPO, 'benchmarks', 'results'), { recursive: true });
    // A smoke run keeps a file of its own: it overwrote the full run's figures docs/benchmarks.md quotes.
    const out = path.join(REPO, 'benchmarks', 'results', QUICK ? 'ext-proc-quick.json' : 'ext-proc.json');
    writeFileSync(out, `${JSON.stringify(result, null, 2)}\n`);
    console.log(`wrote ${path.relative(REPO, out)}`);
  } finally {
    await Promise.all(envoys.map((e) => e.stop()));
    await keyway?.stop();
    await keywayRs?.stop();
    backends.kill('SIGTERM');
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
