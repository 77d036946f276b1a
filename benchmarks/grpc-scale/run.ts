/**
 * Proxyless gRPC at scale (docs/benchmarks.md "Proxyless gRPC at scale"): one real @grpc/grpc-js-xds
 * client against a real `keyway serve` (the compiled CLI: `npm run build` first) over 64 cache nodes,
 * stock (per-shard routes, one cluster per owner tuple) side by side with the same client carrying
 * `keyway/grpc`'s shard picker (one route, one cluster, the owner table in its policy config).
 *
 * Per run: the client's initial sync, then ownership changes (node-63 leaves, rejoins, leaves, ...).
 * For each change: wall time from the topology write until every moved shard (up to 64 sampled)
 * answers from its new primary; the client's CPU from the write until keyway's stream has been quiet
 * for a second; and what keyway sent meanwhile (responses, resources, bytes), metered on the wire by
 * a pass-through ADS proxy (ads-meter.ts). The backends are 64 gRPC servers answering their name.
 *
 *   npm run build && npm run bench:grpcscale -- [--quick] [--shards 16384] [--stock-shards 256,1024] [--changes 3] [--timeout 120]
 *
 * The picker runs at --shards and at every stock S. --quick: stock at 256 only (default stock:
 * 256,1024,16384; a client that does not finish its initial sync within --timeout seconds is
 * reported so and takes no change). The two clients run side by side per S, alternating which goes
 * first. Prints a table and ratios, writes benchmarks/results/grpc-scale.json (--quick: grpc-scale-quick.json).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Server, ServerCredentials } from '@grpc/grpc-js';
import { startKeyway, type KeywayProcess } from '../../e2e/support/keyway.js';
import { terminate, track } from '../../e2e/support/processes.js';
import { withShardPicker } from '../../src/grpc/index.js';
import { runPlan, type Mode } from './plan.js';
import { startAdsMeter, type AdsMeter, type Traffic } from './ads-meter.js';

const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const NODES = 64;
const WHO_METHOD = '/keyway.bench.Cache/Who';
const raw = (b: Buffer): Buffer => b;

interface ShardMapBody {
  readonly version: string;
  readonly shards: { shard: number; owners: string[] }[];
}

/** 64 gRPC servers in this process, each answering its name. */
async function startBackends(): Promise<{ name: string; port: number }[]> {
  return Promise.all(
    Array.from({ length: NODES }, async (_, i) => {
      const name = `node-${i}`;
      const s = new Server();
      s.addService(
        { Who: { path: WHO_METHOD, requestStream: false, responseStream: false, requestSerialize: raw, requestDeserialize: raw, responseSerialize: raw, responseDeserialize: raw } },
        { Who: (_c: unknown, cb: (e: null, v: Buffer) => void) => cb(null, Buffer.from(name)) },
      );
      const port = await new Promise<number>((res, rej) => s.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (e, p) => (e ? rej(e) : res(p))));
      return { name, port };
    }),
  );
}

function topology(shards: number, nodes: readonly { name: string; port: number }[]): string {
  const lines = [`shards: ${shards}`, 'replicas: 2', 'spread: zone', 'service: keyway-cache', 'envoy: {missingHeader: reject}', 'endpoints:'];
  nodes.forEach((n, i) =>
    lines.push(`  - id: ${n.name}`, '    address: 127.0.0.1', `    port: ${n.port}`, `    locality: {region: r, zone: z${i % 4}, subzone: nvl-${i % 16}}`, '    weight: 10'),
  );
  return `${lines.join('\n')}\n`;
}

/** The client process: send a command, read one answer line. */
function startClient(mode: Mode, bootstrap: object): { ask(cmd: object): Promise<{ done?: boolean; ms?: number; cpuMs: number; last?: string }>; child: ChildProcess } {
  const script = path.join(REPO_ROOT, 'benchmarks', 'grpc-scale', 'client.ts');
  const child = spawn(process.execPath, ['--import', 'tsx', script, 'xds:///keyway-cache', mode], {
    cwd: REPO_ROOT,
    env: { ...process.env, GRPC_XDS_BOOTSTRAP_CONFIG: JSON.stringify(bootstrap) },
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  track(child);
  const queue: ((line: string) => void)[] = [];
  createInterface({ input: child.stdout! }).on('line', (line) => queue.shift()?.(line));
  return {
    child,
    ask: (cmd) =>
      new Promise((resolve) => {
        queue.push((line) => resolve(JSON.parse(line) as { cpuMs: number }));
        child.stdin!.write(`${JSON.stringify(cmd)}\n`);
      }),
  };
}

async function shardMap(keyway: KeywayProcess): Promise<ShardMapBody> {
  return (await (await fetch(`${keyway.httpUrl}/v1/shardmap`)).json()) as ShardMapBody;
}

async function untilNewMap(keyway: KeywayProcess, version: string): Promise<ShardMapBody> {
  for (;;) {
    const m = await shardMap(keyway);
    if (m.version !== version) return m;
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Waits until keyway has sent nothing for `quietMs` (or `timeoutMs` passed); returns when the last response came. */
async function quiet(meter: AdsMeter, quietMs: number, timeoutMs: number): Promise<number> {
  const start = performance.now();
  while (performance.now() - meter.lastResponseAt() < quietMs && performance.now() - start < timeoutMs) await new Promise((r) => setTimeout(r, 50));
  return meter.lastResponseAt();
}

const diff = (a: Traffic, b: Traffic): Traffic => ({
  responses: b.responses - a.responses,
  resources: b.resources - a.resources,
  bytes: b.bytes - a.bytes,
  byType: Object.fromEntries(Object.entries(b.byType).map(([k, v]) => [k, v - (a.byType[k] ?? 0)]).filter(([, v]) => (v as number) > 0)),
});

/** Up to `n` shards spread over the map, with their primary. */
function sample(map: ShardMapBody, shards: readonly number[], n: number): [number, string][] {
  const step = Math.max(1, Math.floor(shards.length / n));
  return shards.filter((_, i) => i % step === 0).slice(0, n).map((s) => [s, map.shards[s]!.owners[0]!]);
}

interface Phase {
  readonly done: boolean;
  /** Until the sampled shards answered from their primary. */
  readonly routedMs: number;
  /** Until keyway's stream was quiet (the last response of the change). */
  readonly lastResponseMs: number;
  readonly clientCpuMs: number;
  readonly traffic: Traffic;
}

async function run(mode: Mode, shards: number, changes: number, timeoutMs: number, backends: { name: string; port: number }[]): Promise<{ mode: Mode; shards: number; initial: Phase; changes: Phase[] }> {
  const dir = mkdtempSync(path.join(tmpdir(), 'keyway-grpc-scale-'));
  const file = path.join(dir, 'topology.yaml');
  writeFileSync(file, topology(shards, backends));
  const keyway = await startKeyway({ configPath: file, logLevel: 'warn', readyTimeoutMs: 60_000 });
  const meter = await startAdsMeter(`127.0.0.1:${keyway.xdsPort}`);
  const bootstrap = {
    xds_servers: [{ server_uri: `127.0.0.1:${meter.port}`, channel_creds: [{ type: 'insecure' }], server_features: ['xds_v3'] }],
    node: { id: `bench-${mode}`, locality: { region: 'r', zone: 'z0', sub_zone: 'nvl-0' } },
  };
  const client = startClient(mode, mode === 'picker' ? withShardPicker(bootstrap) : bootstrap);
  try {
    let map = await shardMap(keyway);
    const all = map.shards.map((s) => s.shard);
    const t0 = performance.now();
    const first = await client.ask({ probe: sample(map, all, 64), timeoutMs });
    const lastInitial = await quiet(meter, 1000, first.done ? timeoutMs : 1);
    const cpu0 = await client.ask({ cpu: true });
    const initial: Phase = {
      done: first.done === true,
      routedMs: first.ms!,
      lastResponseMs: lastInitial - t0,
      clientCpuMs: cpu0.cpuMs,
      traffic: meter.traffic(),
    };
    process.stderr.write(`${mode} S=${shards}: initial ${initial.done ? 'done' : `NOT done (${first.last})`} in ${Math.round(initial.routedMs)} ms, client CPU ${Math.round(initial.clientCpuMs)} ms\n`);
    const result: Phase[] = [];
    if (!initial.done) return { mode, shards, initial, changes: result };
    for (let c = 0; c < changes; c++) {
      const leaving = c % 2 === 0;
      const before = meter.traffic();
      const cpuBefore = (await client.ask({ cpu: true })).cpuMs;
      const t = performance.now();
      writeFileSync(file, topology(shards, leaving ? backends.slice(0, -1) : backends));
      const next = await untilNewMap(keyway, map.version);
      const moved = all.filter((s) => next.shards[s]!.owners[0] !== map.shards[s]!.owners[0]);
      const probed = await client.ask({ probe: sample(next, moved, 64), timeoutMs });
      const routedAt = performance.now();
      const last = await quiet(meter, 1000, probed.done ? timeoutMs : 1);
      const cpuAfter = (await client.ask({ cpu: true })).cpuMs;
      map = next;
      const phase: Phase = {
        done: probed.done === true,
        routedMs: routedAt - t, // from the topology write: keyway's file watch and push included, alike for both
        lastResponseMs: last - t,
        clientCpuMs: cpuAfter - cpuBefore,
        traffic: diff(before, meter.traffic()),
      };
      result.push(phase);
      process.stderr.write(
        `${mode} S=${shards} change ${c + 1} (${leaving ? 'node-63 leaves' : 'node-63 joins'}, ${moved.length} primaries moved): routed ${phase.done ? '' : 'NOT '}in ${Math.round(phase.routedMs)} ms, client CPU ${Math.round(phase.clientCpuMs)} ms, keyway sent ${phase.traffic.resources} resources / ${phase.traffic.bytes} B\n`,
      );
      if (!phase.done) break;
    }
    return { mode, shards, initial, changes: result };
  } finally {
    client.child.stdin!.end();
    await terminate(client.child);
    meter.close();
    await keyway.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

const median = (xs: readonly number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? NaN : s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};
const spread = (xs: readonly number[]): string => (xs.length === 0 ? '-' : `${Math.round(Math.min(...xs))}-${Math.round(Math.max(...xs))}`);

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      quick: { type: 'boolean', default: false },
      shards: { type: 'string', default: '16384' },
      'stock-shards': { type: 'string' },
      changes: { type: 'string', default: '3' },
      timeout: { type: 'string', default: '120' },
    },
  });
  const pickerShards = Number(values.shards);
  const stockShards = (values['stock-shards'] ?? (values.quick ? '256' : '256,1024,16384')).split(',').map(Number);
  const changes = Number(values.changes);
  const timeoutMs = Number(values.timeout) * 1000;
  const backends = await startBackends();
  const runs = [];
  // The picker at every S the stock client ran (side by side, alternating which goes first), and at --shards.
  for (const [mode, s] of runPlan(stockShards, pickerShards)) runs.push(await run(mode, s, changes, timeoutMs, backends));

  // The table as before the runs were interleaved: stock rows first, each mode by S.
  const byModeThenS = [...runs].sort((a, b) => (a.mode === b.mode ? a.shards - b.shards : a.mode === 'stock' ? -1 : 1));
  const rows = byModeThenS.map((r) => {
    const ok = r.changes.filter((c) => c.done);
    return {
      mode: r.mode,
      shards: r.shards,
      initialDone: r.initial.done,
      initialMs: Math.round(r.initial.routedMs),
      initialCpuMs: Math.round(r.initial.clientCpuMs),
      initialBytes: r.initial.traffic.bytes,
      initialResources: r.initial.traffic.resources,
      changes: r.changes.length,
      changeRoutedMsMedian: Math.round(median(ok.map((c) => c.routedMs))),
      changeRoutedMsSpread: spread(ok.map((c) => c.routedMs)),
      changeCpuMsMedian: Math.round(median(ok.map((c) => c.clientCpuMs))),
      changeCpuMsSpread: spread(ok.map((c) => c.clientCpuMs)),
      changeResourcesMedian: median(ok.map((c) => c.traffic.resources)),
      changeBytesMedian: median(ok.map((c) => c.traffic.bytes)),
      changeByType: ok[0]?.traffic.byType ?? {},
    };
  });
  console.log('| client | S | initial sync (ms, client CPU ms, KiB sent) | change: routed (median ms, range) | change: client CPU (median ms, range) | change: resources / KiB keyway sent (median) |');
  console.log('|---|---|---|---|---|---|');
  for (const r of rows) {
    const init = r.initialDone ? `${r.initialMs}, ${r.initialCpuMs}, ${Math.round(r.initialBytes / 1024)}` : `not done in ${values.timeout} s (CPU ${r.initialCpuMs} ms, ${Math.round(r.initialBytes / 1024)} KiB)`;
    const ch = r.changes === 0 ? ['-', '-', '-'] : [`${r.changeRoutedMsMedian} (${r.changeRoutedMsSpread})`, `${r.changeCpuMsMedian} (${r.changeCpuMsSpread})`, `${r.changeResourcesMedian} / ${(r.changeBytesMedian / 1024).toFixed(1)}`];
    console.log(`| ${r.mode} | ${r.shards} | ${init} | ${ch.join(' | ')} |`);
  }
  // Ratios stock / picker where both took their changes at the same S.
  for (const st of rows.filter((r) => r.mode === 'stock' && r.changes > 0)) {
    const pk = rows.find((r) => r.mode === 'picker' && r.shards === st.shards && r.changes > 0);
    if (!pk) continue;
    const ratio = (a: number, b: number): string => (b > 0 ? `${(a / b).toFixed(1)}x` : '-');
    console.log(
      `S=${st.shards} stock/picker: change routed ${ratio(st.changeRoutedMsMedian, pk.changeRoutedMsMedian)}, client CPU ${ratio(st.changeCpuMsMedian, pk.changeCpuMsMedian)}, resources ${ratio(st.changeResourcesMedian, pk.changeResourcesMedian)}, bytes ${ratio(st.changeBytesMedian, pk.changeBytesMedian)}; initial sync client CPU ${ratio(st.initialCpuMs, pk.initialCpuMs)}, bytes ${ratio(st.initialBytes, pk.initialBytes)}`,
    );
  }
  // --quick keeps a file of its own, so a smoke run leaves the quoted figures' file alone.
  const results = path.join(REPO_ROOT, 'benchmarks', 'results', values.quick ? 'grpc-scale-quick.json' : 'grpc-scale.json');
  writeFileSync(results, `${JSON.stringify({ command: process.argv.slice(2), nodes: NODES, rows, runs }, null, 2)}\n`);
  process.exit(0);
}

await main();
