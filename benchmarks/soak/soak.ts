/**
 * Soak of `keyway serve` (benchmarks/soak/README.md): one keyway with, connected at once, a real
 * Envoy, ownership agents sending load reports (hot-shard spreading on, 1 s windows), a proxyless
 * grpc-js client, a REST poller, and xDS connections that open streams and never send a request.
 * For --minutes it rewrites the topology every 1-2 s and restarts agents and Envoy; every 10 s it
 * samples keyway's RSS, heap (after a full GC, through heap-probe.mjs), open fds, active handles and
 * the sizes of /v1/proxies and /metrics. Then it stops the churn and checks that Envoy runs the final
 * map and /readyz is ready.
 *
 *   npm run -s build && node --expose-gc --import tsx benchmarks/soak/soak.ts --minutes 6 [--out FILE]
 */
import { spawn } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, openSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import http2 from 'node:http2';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { writeHeapSnapshot } from 'node:v8';
import { Client, credentials, Metadata } from '@grpc/grpc-js';
import * as xds from '@grpc/grpc-js-xds';
import { OwnershipAgent } from '../../src/agent/index.js';
import { registerShardPicker, withShardPicker } from '../../src/grpc/index.js';
import { adsBootstrap } from '../../e2e/support/bootstrap.js';
import { startEnvoy, type EnvoyProcess } from '../../e2e/support/envoy.js';
import { freePorts } from '../../e2e/support/ports.js';
import { terminate, track } from '../../e2e/support/processes.js';
import { sotwRequest } from '../../e2e/support/xds-raw.js';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const { values: argv } = parseArgs({ options: {
  minutes: { type: 'string', default: '6' },
  out: { type: 'string' },
  shards: { type: 'string', default: '256' },
  // Envoy's route shape: `table` also runs make-before-break staging for Envoy.
  shape: { type: 'string', default: 'subset' },
  // The grpc-js client carries keyway's shard picker (one route, one cluster) instead of the stock per-shard routes.
  picker: { type: 'boolean', default: false },
  // Trace export on, to a collector that is not there (exports fail for the whole run).
  tracing: { type: 'boolean', default: false },
  // Heap snapshots of keyway after the first quarter and at the end, in the run's directory (compare them in DevTools, or with heap-diff.py).
  'heap-snapshots': { type: 'boolean', default: false },
} });
const MINUTES = Number(argv.minutes);
const SHARDS = Number(argv.shards);
const WINDOW_MS = 1000;
const POOL = 12; // node ids gpu-0..gpu-11; the topology lists a changing subset
const dir = mkdtempSync(path.join(tmpdir(), 'keyway-soak-'));
const configPath = path.join(dir, 'topology.yaml');
const probePath = path.join(dir, 'probe.jsonl');
const outPath = argv.out ?? path.join(dir, 'samples.jsonl');
let seed = 12345;
const rand = (): number => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const log = (msg: string) => process.stdout.write(`[soak ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);

// ---- topology ----------------------------------------------------------------------------------
interface NodeState { present: boolean; weight: number; draining: boolean; ready: boolean }
const nodes: NodeState[] = Array.from({ length: POOL }, (_, i) => ({ present: i < 8, weight: 40 + 20 * (i % 4), draining: false, ready: true }));
function topologyYaml(): string {
  const eps = nodes.flatMap((n, i) => (!n.present ? [] : [
    `  - id: gpu-${i}`,
    `    address: 127.0.0.1`,
    `    port: ${7001 + i}`,
    `    locality: {region: r1, zone: z${i % 2}, subzone: nvl-${i % 4}}`,
    `    weight: ${n.weight}`,
    // A draining endpoint must not say `ready: true` (it owns nothing).
    n.draining ? '    draining: true' : `    ready: ${n.ready}`,
  ]));
  return [
    `shards: ${SHARDS}`, 'replicas: 2', 'spread: subzone', 'service: keyway-cache',
    `envoy: {listenerPort: 10000, missingHeader: any, routeShape: ${argv.shape}}`,
    'handoff: {enabled: true, warmTimeoutMs: 3000, drainMs: 2000, flipIntervalMs: 500, agentWaitMs: 2000}',
    `hotShards: {enabled: true, windowMs: ${WINDOW_MS}, maxReaders: 3, maxMovesPerWindow: 16, minWindowRequests: 10, historyWindows: 3, replayWindows: 4}`,
    'endpoints:', ...eps, '',
  ].join('\n');
}
function churnTopology(): string {
  const i = Math.floor(rand() * POOL);
  const n = nodes[i]!;
  const live = nodes.filter((x) => x.present && x.ready && !x.draining).length;
  const op = pick(['toggle', 'weight', 'weight', 'drain', 'ready']);
  if (op === 'toggle' && (!n.present || live > 4)) { n.present = !n.present; n.draining = false; n.ready = true; }
  else if (op === 'weight') n.weight = 10 + Math.floor(rand() * 150);
  else if (op === 'drain' && n.present && (n.draining || live > 4)) n.draining = !n.draining;
  else if (op === 'ready' && n.present && (!n.ready || live > 4)) n.ready = !n.ready;
  writeFileSync(configPath, topologyYaml());
  return `${op} gpu-${i}`;
}

// ---- keyway ------------------------------------------------------------------------------------
const [httpPort, xdsPort] = await freePorts(2);
const base = `http://127.0.0.1:${httpPort}`;
writeFileSync(configPath, topologyYaml());
const logFd = openSync(path.join(dir, 'keyway.log'), 'a');
const snapshotFlags = argv['heap-snapshots'] ? ['--heapsnapshot-signal=SIGUSR2', `--diagnostic-dir=${dir}`] : [];
const keyway = spawn('nice', ['-n', '10', process.execPath, '--expose-gc', ...snapshotFlags, '--import', path.join(REPO, 'benchmarks/soak/heap-probe.mjs'),
  path.join(REPO, 'bin/keyway.js'), 'serve', '--config', configPath, '--http-port', String(httpPort), '--xds-port', String(xdsPort),
  '--host', '127.0.0.1', '--ext-proc-port', 'off', '--log-level', 'warn'], {
  stdio: ['ignore', logFd, logFd],
  env: { ...process.env, ...(argv.tracing && { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:9' }), KEYWAY_SOAK_PROBE_FILE: probePath, KEYWAY_XDS_MAX_CONNECTION_AGE_MS: '20000', KEYWAY_XDS_MAX_CONNECTION_IDLE_MS: '10000' },
});
closeSync(logFd);
track(keyway);
const pid = keyway.pid!; // `nice` execs node: same pid
async function get(p: string, timeoutMs = 5000): Promise<{ status: number; body: string }> {
  const res = await fetch(`${base}${p}`, { signal: AbortSignal.timeout(timeoutMs) });
  return { status: res.status, body: await res.text() };
}
for (let i = 0; ; i++) {
  try { if ((await get('/readyz')).status === 200) break; } catch { /* not up yet */ }
  if (i > 200 || keyway.exitCode !== null) throw new Error(`keyway did not start; log in ${dir}/keyway.log`);
  await sleep(100);
}
log(`keyway pid ${pid}, http ${httpPort}, xds ${xdsPort}, dir ${dir}`);

// ---- clients -----------------------------------------------------------------------------------
const stops: Array<() => Promise<void> | void> = [];
const counts = { topologyWrites: 0, agentRestarts: 0, envoyRestarts: 0, idleStreams: 0, idleConns: 0, grpcCalls: 0, polls: 0, pollErrors: 0 };

// Ownership agents for every pool id (some not in the map at a given time: unlisted reports).
const agents = new Map<number, OwnershipAgent>();
function startAgent(i: number): void {
  const agent = new OwnershipAgent({
    nodeId: `gpu-${i}`, servers: [`127.0.0.1:${xdsPort}`],
    warm: async () => { await sleep(50 + Math.floor(rand() * 200)); },
    timing: { loadWindowMs: WINDOW_MS, backoffInitialMs: 100, backoffMaxMs: 2000 },
    log: () => {},
  });
  agent.start();
  agents.set(i, agent);
}
for (let i = 0; i < POOL; i++) startAgent(i);
// Skewed load: shard 7 and 42 hot, the rest spread over whatever each agent owns.
const loadTimer = setInterval(() => {
  for (const [, agent] of agents) {
    const owned = [...agent.assignments().keys()];
    for (const s of owned.slice(0, 20)) agent.recordRequest(s, 1 + Math.floor(rand() * 5));
    if (owned.includes(7)) agent.recordRequest(7, 400);
    if (owned.includes(42)) agent.recordRequest(42, 200);
  }
}, 100);
stops.push(() => clearInterval(loadTimer));

// Envoy over ADS, restarted every 90 s (also reconnects on its own at the 20 s connection age).
const bootstrap = adsBootstrap({ xdsPort: xdsPort!, nodeId: 'soak-envoy', locality: { region: 'r1', zone: 'z0', sub_zone: 'nvl-0' } });
let envoy: EnvoyProcess | undefined = await startEnvoy({ bootstrap, waitReady: false });

// Proxyless grpc-js client (stock per-shard routes, or with --picker keyway's shard picker).
const grpcBootstrap = {
  xds_servers: [{ server_uri: `127.0.0.1:${xdsPort}`, channel_creds: [{ type: 'insecure' }], server_features: ['xds_v3'] }],
  node: { id: 'soak-grpc', locality: { zone: 'z1', sub_zone: 'nvl-1' } },
};
process.env.GRPC_XDS_BOOTSTRAP_CONFIG = JSON.stringify(argv.picker ? withShardPicker(grpcBootstrap) : grpcBootstrap);
xds.register();
if (argv.picker) registerShardPicker();
const grpcClient = new Client('xds:///keyway-cache', credentials.createInsecure());
const grpcTimer = setInterval(() => {
  const md = new Metadata();
  md.set('x-cache-shard', String(Math.floor(rand() * SHARDS)));
  // No cache node listens: the call fails, but it keeps the channel resolving through xDS.
  grpcClient.makeUnaryRequest('/soak.Cache/Get', (x: Buffer) => x, (x: Buffer) => x, Buffer.alloc(0), md, { deadline: Date.now() + 500 }, () => { counts.grpcCalls++; });
}, 1000);
stops.push(() => { clearInterval(grpcTimer); grpcClient.close(); });

// xDS connections that open a stream and never send a request, and connections with no stream.
const idleTimer = setInterval(() => {
  const s = http2.connect(`http://127.0.0.1:${xdsPort}`);
  s.on('error', () => {});
  const st = s.request({ ':method': 'POST', ':path': '/envoy.service.discovery.v3.AggregatedDiscoveryService/StreamAggregatedResources', 'content-type': 'application/grpc', te: 'trailers' });
  st.on('error', () => {});
  counts.idleStreams++;
  setTimeout(() => s.destroy(), 4000 + Math.floor(rand() * 4000));
  // A bare TCP connection that never speaks HTTP/2, and an HTTP/2 one with no stream (idle limit).
  const raw = net.connect(xdsPort!, '127.0.0.1');
  raw.on('error', () => {});
  setTimeout(() => raw.destroy(), 3000);
  const bare = http2.connect(`http://127.0.0.1:${xdsPort}`);
  bare.on('error', () => {});
  counts.idleConns++;
  setTimeout(() => bare.destroy(), 15_000);
  // One well-formed request on a stream dropped right after.
  const once = http2.connect(`http://127.0.0.1:${xdsPort}`);
  once.on('error', () => {});
  const os = once.request({ ':method': 'POST', ':path': '/envoy.service.discovery.v3.AggregatedDiscoveryService/StreamAggregatedResources', 'content-type': 'application/grpc', te: 'trailers' });
  os.on('error', () => {});
  os.on('data', () => {});
  os.write(sotwRequest({ id: `drop-${counts.idleStreams}`, zone: 'z0', subZone: 'nvl-0' }, 'cluster'));
  setTimeout(() => once.destroy(), 500);
}, 3000);
stops.push(() => clearInterval(idleTimer));

// REST poller.
const pollTimer = setInterval(() => {
  for (const p of ['/v1/shardmap', '/readyz', '/metrics']) {
    get(p).then(() => counts.polls++, () => counts.pollErrors++);
  }
}, 1000);
stops.push(() => clearInterval(pollTimer));

// ---- sampling ----------------------------------------------------------------------------------
interface Sample { min: number; driverHeapMiB: number; rssKiB: number; heapUsedMiB?: number; externalMiB?: number; fds: number; timers?: number; handles?: number; proxiesBytes: number; metricsBytes: number; metricsLines: number; proxies: number }
const samples: Sample[] = [];
const t0 = Date.now();
async function sample(): Promise<Sample> {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const rssKiB = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1]);
  const fds = readdirSync(`/proc/${pid}/fd`).length;
  const probe = existsSync(probePath) ? readFileSync(probePath, 'utf8').trim().split('\n').at(-1) : undefined;
  const p = probe ? (JSON.parse(probe) as { heapUsed: number; external: number; resources: Record<string, number> }) : undefined;
  const proxies = await get('/v1/proxies');
  const metrics = await get('/metrics');
  // The driver's own heap too: it runs the agents and the grpc-js client (src/agent, keyway/grpc).
  // After a full collection when the driver runs with --expose-gc (as the README says), else with garbage.
  (globalThis as { gc?: () => void }).gc?.();
  const driverHeapMiB = Math.round(process.memoryUsage().heapUsed / 10485.76) / 100;
  const s: Sample = {
    min: Math.round((Date.now() - t0) / 600) / 100, driverHeapMiB, rssKiB, fds,
    ...(p && { heapUsedMiB: Math.round(p.heapUsed / 10485.76) / 100, externalMiB: Math.round(p.external / 10485.76) / 100, timers: p.resources['Timeout'] ?? 0, handles: Object.values(p.resources).reduce((a, b) => a + b, 0) }),
    proxiesBytes: proxies.body.length, proxies: (JSON.parse(proxies.body) as { proxies: unknown[] }).proxies.length,
    metricsBytes: metrics.body.length, metricsLines: metrics.body.split('\n').filter((l) => l && !l.startsWith('#')).length,
  };
  samples.push(s);
  writeFileSync(outPath, `${JSON.stringify({ ...s, counts })}\n`, { flag: 'a' });
  log(`t=${s.min}m rss=${(rssKiB / 1024).toFixed(1)}MiB heap=${s.heapUsedMiB}MiB ext=${s.externalMiB}MiB fds=${fds} timers=${s.timers} handles=${s.handles} proxies=${s.proxies} /v1/proxies=${s.proxiesBytes}B /metrics=${s.metricsBytes}B/${s.metricsLines} series driver-heap=${driverHeapMiB}MiB`);
  return s;
}

// ---- churn -------------------------------------------------------------------------------------
const end = t0 + MINUTES * 60_000;
let nextSample = t0;
let nextEnvoy = t0 + 90_000;
let nextAgent = t0 + 15_000;
let nextSnapshot = argv['heap-snapshots'] ? t0 + MINUTES * 15_000 : Infinity;
const heapSnapshot = (): void => {
  keyway.kill('SIGUSR2');
  // The driver's too: it runs the agents and the grpc-js client.
  const driver = writeHeapSnapshot(path.join(dir, `driver-${Date.now()}.heapsnapshot`));
  log(`heap snapshots requested (keyway's in ${dir}, the driver's ${driver})`);
};
while (Date.now() < end) {
  if (keyway.exitCode !== null) throw new Error(`keyway exited (${keyway.exitCode}); log in ${dir}/keyway.log`);
  if (Date.now() >= nextSample) { await sample(); nextSample += 10_000; }
  if (Date.now() >= nextSnapshot) { heapSnapshot(); nextSnapshot = Infinity; }
  churnTopology();
  counts.topologyWrites++;
  if (Date.now() >= nextAgent) {
    const i = Math.floor(rand() * POOL);
    await agents.get(i)?.close();
    startAgent(i);
    counts.agentRestarts++;
    nextAgent += 15_000;
  }
  if (Date.now() >= nextEnvoy) {
    await envoy?.stop();
    envoy = await startEnvoy({ bootstrap, waitReady: false });
    counts.envoyRestarts++;
    nextEnvoy += 90_000;
  }
  await sleep(1000 + Math.floor(rand() * 1000));
}

// ---- convergence -------------------------------------------------------------------------------
log(`churn stopped: ${JSON.stringify(counts)}`);
await sample();
if (argv['heap-snapshots']) heapSnapshot();
// Leave the load on (it is steady now) so the hot-shard decision is steady too; only the file stops.
type Eds = Map<string, string>; // hostname|priority -> shard list
/** The value at `path` in parsed JSON, or undefined. */
const dig = (v: unknown, ...path: string[]): unknown => path.reduce<unknown>((o, k) => (o !== null && typeof o === 'object' ? (o as Record<string, unknown>)[k] : undefined), v);
const list = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);
/** Envoy's admin dump is snake_case, keyway's /debug/config_dump canonical ProtoJSON (camelCase). */
const key = (snake: string, camel: boolean): string => (camel ? snake.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase()) : snake);
function edsOf(dump: { configs: Array<Record<string, unknown>> }, camel: boolean): Eds {
  const out: Eds = new Map();
  const k = (snake: string): string => key(snake, camel);
  const eps = dump.configs.find((c) => String(c['@type']).endsWith('EndpointsConfigDump'));
  for (const d of list(dig(eps, k('dynamic_endpoint_configs')))) {
    const cla = dig(d, k('endpoint_config'));
    for (const group of list(dig(cla, 'endpoints'))) {
      for (const lb of list(dig(group, k('lb_endpoints')))) {
        const shards = list(dig(lb, 'metadata', k('filter_metadata'), 'envoy.lb', 'cache-shard'));
        const port = dig(lb, 'endpoint', 'address', k('socket_address'), k('port_value'));
        out.set(`${String(dig(cla, k('cluster_name')))}|${String(dig(lb, 'endpoint', 'hostname'))}|${Number(dig(group, 'priority') ?? 0)}|${String(port)}`, shards.join(','));
      }
    }
  }
  return out;
}
function subsetOf(eds: Eds): Map<number, Set<string>> {
  const byShard = new Map<number, Set<string>>();
  for (const [k, v] of eds) {
    const [, host, prio] = k.split('|');
    if (prio !== '0' || v === '') continue;
    for (const s of v.split(',')) (byShard.get(Number(s)) ?? byShard.set(Number(s), new Set()).get(Number(s))!).add(host!);
  }
  return byShard;
}
function routeTableOf(dump: { configs: Array<Record<string, unknown>> }): Map<number, Set<string>> {
  const byShard = new Map<number, Set<string>>();
  const prefix = 'keyway-cache/node/';
  for (const c of dump.configs) {
    for (const rc of list(c['dynamic_route_configs'])) {
      for (const vh of list(dig(rc, 'route_config', 'virtual_hosts'))) {
        const table = dig(vh, 'matcher', 'matcher_tree', 'exact_match_map', 'map') ?? {};
        for (const [shard, entry] of Object.entries(table as Record<string, unknown>)) {
          const route = dig(entry, 'action', 'typed_config', 'route');
          const one = dig(route, 'cluster');
          const clusters = typeof one === 'string' ? [one] : list(dig(route, 'weighted_clusters', 'clusters')).map((w) => String(dig(w, 'name')));
          byShard.set(Number(shard), new Set(clusters.map((n) => (n.startsWith(prefix) ? n.slice(prefix.length) : n))));
        }
      }
    }
  }
  return byShard;
}
async function converged(): Promise<string | true> {
  const ready = JSON.parse((await get('/readyz')).body) as { status: string; version: string };
  if (ready.status !== 'ready') return `readyz ${ready.status}: ${JSON.stringify(ready).slice(0, 300)}`;
  const map = JSON.parse((await get('/v1/shardmap')).body) as { version: string; shards: Array<{ shard: number; owners: string[]; readers?: number }>; handoff?: { transitions: unknown[] } };
  if (map.handoff && map.handoff.transitions.length > 0) return `${map.handoff.transitions.length} transitions in flight`;
  const envoyEds = edsOf(await envoy!.configDump({ includeEds: true }), false);
  const mine = edsOf(JSON.parse((await get('/debug/config_dump?proxy=soak-envoy')).body), true);
  if (JSON.stringify([...envoyEds].sort()) !== JSON.stringify([...mine].sort())) return `Envoy EDS (${envoyEds.size} hosts) differs from what keyway sent (${mine.size})`;
  // Every shard's serving owners: with the subset shape the priority-0 hosts whose metadata lists
  // it; with the table shape the node clusters its route-table entry sends it to.
  const byShard = argv.shape === 'table' ? routeTableOf(await envoy!.configDump()) : subsetOf(envoyEds);
  for (const s of map.shards) {
    const serving = s.owners.slice(0, s.readers ?? 1);
    const got = byShard.get(s.shard) ?? new Set();
    if ((argv.shape === 'table' && serving.length !== got.size) || !serving.every((o) => got.has(o))) return `shard ${s.shard}: map serves it from ${serving.join(',')}, Envoy from ${[...got].join(',')}`;
  }
  checked = `${envoyEds.size} EDS hosts equal to what keyway sent, ${map.shards.length} shards served by their owners, map ${map.version}`;
  return true;
}
let checked = '';
let verdict: string | true = 'not checked';
for (let i = 0; i < 60; i++) {
  try { verdict = await converged(); } catch (err) { verdict = (err as Error).message; }
  if (verdict === true) break;
  await sleep(1000);
}
log(verdict === true ? `converged: Envoy runs the final map (${checked}), /readyz ready` : `NOT converged after 60 s: ${verdict}`);

// ---- summary -----------------------------------------------------------------------------------
const rows = [samples[1] ?? samples[0]!, samples[Math.floor(samples.length / 2)]!, samples.at(-1)!];
log('summary (start after warm-up, middle, end):');
for (const r of rows) log(`  t=${r.min}m rss=${(r.rssKiB / 1024).toFixed(1)}MiB heap=${r.heapUsedMiB}MiB fds=${r.fds} timers=${r.timers} handles=${r.handles} /v1/proxies=${r.proxiesBytes}B /metrics=${r.metricsBytes}B`);
log(`samples in ${outPath}`);
for (const stop of stops) await stop();
await Promise.all([...agents.values()].map((a) => a.close()));
await envoy?.stop();
await terminate(keyway, 5000);
process.exit(verdict === true ? 0 : 1);
