/**
 * Initial-sync traffic of a stock proxyless gRPC client (docs/benchmarks.md "gRPC initial sync"):
 * one real @grpc/grpc-js-xds client (its own process) resolves `xds:///keyway-cache` against
 * keyway's xDS server, S shards over 64 nodes, through a relay that counts the bytes each way. The
 * client subscribes to each cluster of its routes, then to each cluster's endpoints, one name per
 * request; the figures say how the bytes grow with the clusters.
 *
 * Side by side, per S, on the same input:
 * - `hold-off`: this tree, a burst of subscription changes answered once (default hold-off);
 * - `no-hold-off`: this tree with the hold-off at 0 ms (every request answered at once);
 * - `before` (with `--before-root DIR`, a copy of an earlier keyway `src/`): that server as it was.
 * The sync is done when the client has ACKed every cluster and endpoint assignment of the snapshot.
 *
 *   npm run bench:grpcsync -- [--shards 64,128,256,512,1024] [--nodes 64] [--runs 3] [--before-root DIR] [--quick]
 *     [--modes hold-off,no-hold-off,before] [--hold-off-ms N --max-delay-ms N]  (the hold-off mode's settings; default: keyway's)
 *
 * Prints a table and writes benchmarks/results/grpc-sync.json (--quick: grpc-sync-quick.json): per S and mode the median bytes keyway
 * sent (and the client sent), min and max, bytes per cluster, sync seconds and client CPU seconds.
 */
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { startByteMeter } from './byte-meter.js';

const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const CLIENT = path.join(REPO_ROOT, 'benchmarks', 'grpc-sync', 'client.ts');
const NODE_ID = 'bench-grpc';

const { values: args } = parseArgs({
  options: {
    shards: { type: 'string' },
    nodes: { type: 'string', default: '64' },
    runs: { type: 'string' },
    'before-root': { type: 'string' },
    'timeout-s': { type: 'string', default: '240' },
    quick: { type: 'boolean', default: false },
    modes: { type: 'string' },
    'hold-off-ms': { type: 'string' },
    'max-delay-ms': { type: 'string' },
  },
});
const SHARDS = (args.shards ?? (args.quick ? '64,256,1024' : '64,128,256,512,1024')).split(',').map(Number);
const NODES = Number(args.nodes);
const RUNS = Number(args.runs ?? (args.quick ? 1 : 3));
const TIMEOUT_MS = Number(args['timeout-s']) * 1000;
// --quick keeps a file of its own, so a smoke run leaves the quoted figures' file alone.
const RESULTS = process.env.BENCH_RESULTS ?? path.join(REPO_ROOT, 'benchmarks', 'results', args.quick ? 'grpc-sync-quick.json' : 'grpc-sync.json');

interface Mode {
  readonly name: string;
  readonly root: string;
  readonly holdOff?: { holdOffMs: number; maxDelayMs: number };
}
const ALL_MODES: Mode[] = [
  {
    name: 'hold-off',
    root: REPO_ROOT,
    ...(args['hold-off-ms'] ? { holdOff: { holdOffMs: Number(args['hold-off-ms']), maxDelayMs: Number(args['max-delay-ms'] ?? 100) } } : {}),
  },
  { name: 'no-hold-off', root: REPO_ROOT, holdOff: { holdOffMs: 0, maxDelayMs: 0 } },
  ...(args['before-root'] ? [{ name: 'before', root: path.resolve(args['before-root']) }] : []),
];
const MODES = args.modes ? ALL_MODES.filter((m) => args.modes!.split(',').includes(m.name)) : ALL_MODES;

/** What the benchmark reads of a server of any mode (the shape every keyway version has). */
interface BenchServer {
  readonly port: number;
  proxy(nodeId: string): { readonly types: Record<string, { readonly status: string; readonly resources: number }> } | undefined;
  close(): Promise<void>;
}

interface Run {
  readonly bytesToClient: number;
  readonly bytesToServer: number;
  readonly syncSeconds: number;
  readonly clientCpuSeconds: number;
}

/** Loads keyway's modules from `root` (this tree or an earlier copy), so every mode runs its own server. */
async function modules(root: string) {
  const load = (p: string) => import(pathToFileURL(path.join(root, p)).href);
  const [sharding, settings, cache, server, translator] = await Promise.all([
    load('src/sharding/index.ts'),
    load('src/core/settings.ts'),
    load('src/xds/cache/index.ts'),
    load('src/xds/server/index.ts'),
    load('src/xds/translator/index.ts'),
  ]);
  return { sharding, settings, cache, server, translator };
}

function endpoints(count: number) {
  return Array.from({ length: count }, (_, i) => ({
    id: `gpu-${String(i).padStart(2, '0')}`,
    // Addresses nobody listens on: the client's connection attempts fail fast and alike in every mode.
    address: '127.0.0.1',
    port: 1 + i,
    locality: { region: 'r', zone: `z${i % 4}`, subzone: `nvl-${i}` },
    weight: 1,
    ready: true,
  }));
}

async function oneRun(mode: Mode, shards: number): Promise<Run & { clusters: number; responses: object }> {
  const m = await modules(mode.root);
  const policy = { shardCount: shards, replicas: 2, spread: 'none' };
  const eps = endpoints(NODES);
  const input = { topology: { policy, endpoints: eps, xds: m.settings.DEFAULT_XDS_SETTINGS }, shardMap: m.sharding.computeShardMap(eps, policy) };
  const cache = new m.cache.SnapshotCache({ build: (cls: unknown) => m.translator.translate(input, cls), checkConsistency: m.translator.checkConsistency, servedClass: m.translator.effectiveProxyClass });
  const responses: Record<string, { responses: number; resources: number }> = {};
  const events = {
    sent(e: { kind: string; resources: number }) {
      const c = (responses[e.kind] ??= { responses: 0, resources: 0 });
      c.responses++;
      c.resources += e.resources;
    },
  };
  const xds: BenchServer = await m.server.startXdsServer({ cache, port: 0, host: '127.0.0.1', events, ...(mode.holdOff ? { holdOff: mode.holdOff } : {}) });
  const meter = await startByteMeter(xds.port);
  const want = m.translator.translate(input, { flavor: 'grpc', zone: '', subzone: '' });
  const clusters: number = want.cluster.length;
  const assignments: number = want.endpoint.length;
  const child = spawn(process.execPath, ['--import', 'tsx', CLIENT, m.settings.DEFAULT_XDS_SETTINGS.service], {
    cwd: REPO_ROOT,
    env: {
      ...process.env,
      GRPC_XDS_BOOTSTRAP_CONFIG: JSON.stringify({
        xds_servers: [{ server_uri: `127.0.0.1:${meter.port}`, channel_creds: [{ type: 'insecure' }], server_features: ['xds_v3'] }],
        node: { id: NODE_ID, locality: {} },
      }),
    },
    stdio: ['pipe', 'pipe', 'ignore'],
  });
  try {
    const deadline = Date.now() + TIMEOUT_MS;
    for (;;) {
      const row = xds.proxy(NODE_ID);
      const t = row?.types;
      if (
        t &&
        Object.values(t).every((x) => x.status === 'SYNCED') &&
        t.cluster?.resources === clusters &&
        t.endpoint?.resources === assignments
      ) break;
      if (Date.now() > deadline) throw new Error(`${mode.name} S=${shards}: no full sync within ${TIMEOUT_MS / 1000} s`);
      await new Promise((r) => setTimeout(r, 10));
    }
    const syncSeconds = (performance.now() - meter.firstAt!) / 1000;
    const bytesToClient = meter.toClient;
    const bytesToServer = meter.toServer;
    const cpu = new Promise<number>((resolve) =>
      createInterface({ input: child.stdout! }).once('line', (line) => resolve((JSON.parse(line) as { cpuSeconds: number }).cpuSeconds)),
    );
    child.stdin!.write('report\n');
    if (process.env.BENCH_VERBOSE) console.error(mode.name, shards, JSON.stringify(responses));
    return { clusters, bytesToClient, bytesToServer, syncSeconds, clientCpuSeconds: await cpu, responses };
  } finally {
    child.kill('SIGKILL');
    await meter.close();
    await xds.close();
  }
}

const median = (xs: readonly number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
};
const stat = (xs: readonly number[]) => ({ median: median(xs), min: Math.min(...xs), max: Math.max(...xs) });

const results: object[] = [];
console.log(`grpc-sync: ${NODES} nodes, replicas 2, ${RUNS} run(s) per cell; one @grpc/grpc-js-xds client; bytes through a relay (HTTP/2 framing included)`);
console.log('S      clusters  mode          keyway->client KiB (min-max)    per cluster  client->keyway KiB  sync s  client CPU s');
for (const shards of SHARDS) {
  const byMode = new Map<string, ReturnType<typeof stat>>();
  for (const mode of MODES) {
    const runs: Run[] = [];
    let clusters = 0;
    let failure: string | undefined;
    for (let i = 0; i < RUNS; i++) {
      try {
        const r = await oneRun(mode, shards);
        clusters = r.clusters;
        runs.push(r);
      } catch (err) {
        failure = err instanceof Error ? err.message : String(err);
        break;
      }
    }
    if (runs.length === 0) {
      console.log(`${String(shards).padEnd(7)}${'?'.padEnd(10)}${mode.name.padEnd(14)}${failure}`);
      results.push({ shards, nodes: NODES, mode: mode.name, failure });
      continue;
    }
    const toClient = stat(runs.map((r) => r.bytesToClient));
    const toServer = stat(runs.map((r) => r.bytesToServer));
    const sync = stat(runs.map((r) => r.syncSeconds));
    const cpu = stat(runs.map((r) => r.clientCpuSeconds));
    byMode.set(mode.name, toClient);
    const kib = (n: number) => (n / 1024).toFixed(0);
    console.log(
      `${String(shards).padEnd(7)}${String(clusters).padEnd(10)}${mode.name.padEnd(14)}` +
        `${`${kib(toClient.median)} (${kib(toClient.min)}-${kib(toClient.max)})`.padEnd(32)}` +
        `${`${(toClient.median / clusters).toFixed(0)} B`.padEnd(13)}${kib(toServer.median).padEnd(20)}` +
        `${sync.median.toFixed(2).padEnd(8)}${cpu.median.toFixed(2)}`,
    );
    results.push({ shards, nodes: NODES, clusters, mode: mode.name, runs: runs.length, bytesToClient: toClient, bytesToServer: toServer, bytesPerCluster: toClient.median / clusters, syncSeconds: sync, clientCpuSeconds: cpu, ...(failure ? { failure } : {}) });
  }
  const after = byMode.get('hold-off');
  for (const other of ['no-hold-off', 'before']) {
    const o = byMode.get(other);
    if (after && o) console.log(`       ${other} / hold-off bytes: ${(o.median / after.median).toFixed(1)}x`);
  }
}
writeFileSync(RESULTS, `${JSON.stringify({ nodes: NODES, replicas: 2, runs: RUNS, results }, null, 2)}\n`);
console.log(`written ${path.relative(REPO_ROOT, RESULTS)}`);
