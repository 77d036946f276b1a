/**
 * What the key-to-shard Lua filter costs Envoy: `npm run bench:keyhash`. Writes
 * benchmarks/results/envoy-keyhash.json and prints the figures docs/benchmarks.md quotes.
 *
 * One real Envoy (`--concurrency 1`, the pinned build or KEYWAY_ENVOY), one upstream, two listeners
 * that differ only in the Lua filter, both with keyway's subset cluster (S = 1024, one host listing
 * every shard):
 *   (a) header_to_metadata + router; requests carry `x-cache-shard` (what a client that hashes sends);
 *   (b) keyway's Lua filter (keyShardLuaScript, the bytes keyway serves) + header_to_metadata +
 *       router; requests carry only `x-cache-key` (the Lua filter hashes).
 * Both draw from the same 1000 keys (`user:<i>:profile`), the shard precomputed for (a). The
 * variants alternate, ROUNDS times, N requests each, from 16 keep-alive connections on 127.0.0.1.
 * Envoy's CPU time per request = delta of utime+stime in /proc/<pid>/stat (clock ticks) over N;
 * the sum of its threads' /proc/<pid>/task/<tid>/schedstat run time (ns) is reported too, as a
 * finer cross-check. Medians over rounds, with min-max; ratio (b)/(a) and extra µs per request.
 *
 * KEYWAY_BENCH_N (default 20000), KEYWAY_BENCH_ROUNDS (default 7); with fewer, the results go to
 * envoy-keyhash-quick.json.
 */
import http from 'node:http';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { AddressInfo } from 'node:net';
import { keyToShard } from '../../src/sharding/index.js';
import { keyShardLuaScript } from '../../src/xds/translator/index.js';
import { envoyBinaryPath, envoyVersion, startEnvoy } from '../../e2e/support/envoy.js';
import { freePorts } from '../../e2e/support/ports.js';

const SHARDS = 1024;
const DEFAULT_N = 20_000;
const DEFAULT_ROUNDS = 7;
const N = Number(process.env.KEYWAY_BENCH_N ?? DEFAULT_N);
const ROUNDS = Number(process.env.KEYWAY_BENCH_ROUNDS ?? DEFAULT_ROUNDS);
const CONCURRENCY = 16;
const KEYS = Array.from({ length: 1000 }, (_, i) => `user:${i}:profile`);
const KEY_SHARDS = KEYS.map((k) => String(keyToShard(k, SHARDS)));
const here = dirname(fileURLToPath(import.meta.url));
const CLOCK_TICK_HZ = 100; // USER_HZ on Linux

type Variant = 'a-shard-header' | 'b-key-lua';

function listener(name: string, port: number, withLua: boolean): Record<string, unknown> {
  const filters: Record<string, unknown>[] = [];
  if (withLua) {
    filters.push({
      name: 'envoy.filters.http.lua',
      typed_config: {
        '@type': 'type.googleapis.com/envoy.extensions.filters.http.lua.v3.Lua',
        default_source_code: { inline_string: keyShardLuaScript(SHARDS, 'x-cache-key') },
      },
    });
  }
  filters.push(
    {
      name: 'envoy.filters.http.header_to_metadata',
      typed_config: {
        '@type': 'type.googleapis.com/envoy.extensions.filters.http.header_to_metadata.v3.Config',
        request_rules: [{ header: 'x-cache-shard', on_header_present: { metadata_namespace: 'envoy.lb', key: 'cache-shard', type: 'STRING' }, remove: false }],
      },
    },
    { name: 'envoy.filters.http.router', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router' } },
  );
  return {
    name,
    address: { socket_address: { address: '127.0.0.1', port_value: port } },
    filter_chains: [
      {
        filters: [
          {
            name: 'envoy.filters.network.http_connection_manager',
            typed_config: {
              '@type': 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager',
              stat_prefix: name,
              route_config: { name, virtual_hosts: [{ name, domains: ['*'], routes: [{ match: { prefix: '/' }, route: { cluster: 'cache' } }] }] },
              http_filters: filters,
            },
          },
        ],
      },
    ],
  };
}

function bootstrap(portA: number, portB: number, upstreamPort: number): Record<string, unknown> {
  return {
    node: { id: 'bench', cluster: 'bench' },
    static_resources: {
      listeners: [listener('a', portA, false), listener('b', portB, true)],
      clusters: [
        {
          name: 'cache',
          type: 'STATIC',
          connect_timeout: '0.25s',
          lb_subset_config: {
            fallback_policy: 'ANY_ENDPOINT',
            list_as_any: true,
            subset_selectors: [{ keys: ['cache-shard'], fallback_policy: 'NO_FALLBACK' }],
          },
          load_assignment: {
            cluster_name: 'cache',
            endpoints: [
              {
                lb_endpoints: [
                  {
                    endpoint: { address: { socket_address: { address: '127.0.0.1', port_value: upstreamPort } } },
                    metadata: { filter_metadata: { 'envoy.lb': { 'cache-shard': Array.from({ length: SHARDS }, (_, s) => String(s)) } } },
                  },
                ],
              },
            ],
          },
        },
      ],
    },
  };
}

/** utime+stime (ticks) and the summed thread run time (ns) of `pid`. */
function cpuOf(pid: number): { ticks: number; runNs: number } {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' '); // fields from 3 (state) on
  const ticks = Number(fields[11]) + Number(fields[12]); // utime (14), stime (15)
  let runNs = 0;
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      runNs += Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]);
    } catch {
      // a thread that ended
    }
  }
  return { ticks, runNs };
}

/** `count` GETs through `port`, CONCURRENCY at a time on keep-alive connections; throws on a non-200. */
async function load(agent: http.Agent, port: number, variant: Variant, count: number): Promise<void> {
  let next = 0;
  const one = (i: number): Promise<void> =>
    new Promise((resolve, reject) => {
      const k = i % KEYS.length;
      const headers = variant === 'a-shard-header' ? { 'x-cache-shard': KEY_SHARDS[k]! } : { 'x-cache-key': KEYS[k]! };
      const req = http.request({ host: '127.0.0.1', port, path: '/cache/v', agent, headers }, (res) => {
        res.resume();
        res.on('end', () => (res.statusCode === 200 ? resolve() : reject(new Error(`${variant}: HTTP ${res.statusCode}`))));
      });
      req.setTimeout(10_000, () => req.destroy(new Error(`${variant}: timeout`)));
      req.on('error', reject);
      req.end();
    });
  const worker = async (): Promise<void> => {
    while (next < count) await one(next++);
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((x, y) => x - y);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};
const fmt = (x: number): string => x.toFixed(2);

async function main(): Promise<void> {
  const upstream = http.createServer((req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain', 'x-shard': String(req.headers['x-cache-shard'] ?? '') });
    res.end('ok');
  });
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
  const upstreamPort = (upstream.address() as AddressInfo).port;
  const [portA, portB] = (await freePorts(2)) as [number, number];
  const binary = envoyBinaryPath();
  const envoy = await startEnvoy({ binary, bootstrap: bootstrap(portA, portB, upstreamPort), concurrency: 1 });
  const agent = new http.Agent({ keepAlive: true, maxSockets: CONCURRENCY });
  const ports: Record<Variant, number> = { 'a-shard-header': portA, 'b-key-lua': portB };
  const samples: Record<Variant, { usPerReqTicks: number; usPerReqRun: number; wallMs: number }[]> = { 'a-shard-header': [], 'b-key-lua': [] };
  try {
    for (const v of Object.keys(ports) as Variant[]) await load(agent, ports[v], v, Math.min(N, 4000)); // warm up both
    for (let round = 0; round < ROUNDS; round++) {
      const order: Variant[] = round % 2 === 0 ? ['a-shard-header', 'b-key-lua'] : ['b-key-lua', 'a-shard-header'];
      for (const v of order) {
        const before = cpuOf(envoy.pid);
        const t0 = process.hrtime.bigint();
        await load(agent, ports[v], v, N);
        const wallMs = Number(process.hrtime.bigint() - t0) / 1e6;
        const after = cpuOf(envoy.pid);
        samples[v].push({
          usPerReqTicks: (((after.ticks - before.ticks) / CLOCK_TICK_HZ) * 1e6) / N,
          usPerReqRun: (after.runNs - before.runNs) / 1e3 / N,
          wallMs,
        });
        process.stdout.write(`round ${round + 1}/${ROUNDS} ${v}: ${fmt(samples[v].at(-1)!.usPerReqTicks)} µs/req (stat), ${fmt(samples[v].at(-1)!.usPerReqRun)} µs/req (schedstat), ${Math.round((N / wallMs) * 1000)} req/s\n`);
      }
    }
  } finally {
    agent.destroy();
    await envoy.stop();
    upstream.close();
  }

  const summary = (v: Variant, f: 'usPerReqTicks' | 'usPerReqRun') => {
    const xs = samples[v].map((s) => s[f]);
    return { median: median(xs), min: Math.min(...xs), max: Math.max(...xs) };
  };
  const result = {
    benchmark: 'envoy-keyhash',
    date: new Date().toISOString(),
    command: 'npm run bench:keyhash',
    machine: { cpus: os.cpus().length, model: os.cpus()[0]?.model, memGiB: Math.round(os.totalmem() / 2 ** 30), node: process.version, loadavg: os.loadavg() },
    envoy: envoyVersion(binary),
    shards: SHARDS,
    requestsPerRound: N,
    rounds: ROUNDS,
    concurrency: CONCURRENCY,
    samples,
    stat: { a: summary('a-shard-header', 'usPerReqTicks'), b: summary('b-key-lua', 'usPerReqTicks') },
    schedstat: { a: summary('a-shard-header', 'usPerReqRun'), b: summary('b-key-lua', 'usPerReqRun') },
  };
  const ratio = (m: 'stat' | 'schedstat') => result[m].b.median / result[m].a.median;
  const extra = (m: 'stat' | 'schedstat') => result[m].b.median - result[m].a.median;
  const paired = (f: 'usPerReqTicks' | 'usPerReqRun') => median(samples['b-key-lua'].map((s, i) => s[f] - samples['a-shard-header'][i]![f]));
  const derived = {
    ratioStat: ratio('stat'),
    extraUsStat: extra('stat'),
    pairedExtraUsStat: paired('usPerReqTicks'),
    ratioSchedstat: ratio('schedstat'),
    extraUsSchedstat: extra('schedstat'),
    pairedExtraUsSchedstat: paired('usPerReqRun'),
  };
  mkdirSync(join(here, '..', 'results'), { recursive: true });
  // A smaller run (the docs' smoke run) keeps a file of its own: it overwrote the quoted figures' file.
  const smoke = N < DEFAULT_N || ROUNDS < DEFAULT_ROUNDS;
  writeFileSync(join(here, '..', 'results', smoke ? 'envoy-keyhash-quick.json' : 'envoy-keyhash.json'), `${JSON.stringify({ ...result, derived }, null, 2)}\n`);

  console.log(`\nEnvoy ${result.envoy}, S = ${SHARDS}, ${N} requests x ${ROUNDS} rounds per variant, concurrency ${CONCURRENCY}`);
  console.log('| Envoy CPU per request (µs) | (a) x-cache-shard, no Lua | (b) x-cache-key, Lua | (b)/(a) | extra µs (b)-(a) | paired extra µs |');
  console.log('|---|---|---|---|---|---|');
  for (const [m, label, f] of [['stat', 'utime+stime (/proc/pid/stat)', 'usPerReqTicks'], ['schedstat', 'thread run time (schedstat)', 'usPerReqRun']] as const) {
    const r = result[m];
    console.log(
      `| ${label} | ${fmt(r.a.median)} (${fmt(r.a.min)}-${fmt(r.a.max)}) | ${fmt(r.b.median)} (${fmt(r.b.min)}-${fmt(r.b.max)}) | ${ratio(m).toFixed(3)} | ${fmt(extra(m))} | ${fmt(paired(f))} |`,
    );
  }
}

await main();
