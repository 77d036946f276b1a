/**
 * What keyway costs the data plane: `npm run bench:dataplane` (about 15 minutes), `-- --quick`
 * (one round, short windows: a smoke run). Writes benchmarks/results/dataplane-cost.json (quick:
 * dataplane-cost-quick.json) and prints the table docs/benchmarks.md quotes.
 *
 * One real Envoy at a time (`.venv/bin/envoy` or KEYWAY_ENVOY, `--concurrency 1`) in front of
 * example cache nodes (child processes, a 20 ms store fetch behind L1 and L2), one client (this
 * process) sending `GET /kv/<key>` with keys from Zipf s=1.0. Variants (variants.ts): round robin,
 * ring_hash on the key header (also `ring-hash-again`, the same on another fleet: an A/A control,
 * `ring-hash-failover`, with keyway's health check, outlier detection and a failover retry, and
 * `ring-hash-lean`, with keyway's per-request defaults: no dynamic stats, request ids, x-envoy-* or server headers),
 * keyway over ADS, and keyway's own resources served statically with one part toggled each. Every round runs every variant once, in a rotated order, so slow phases
 * of the shared machine spread over all of them; figures are medians over rounds, ratios are taken
 * per round against ring_hash (paired) before the median.
 *
 * Per variant and round, after a warm-up:
 *   idle        Envoy and the nodes with no traffic: background CPU in ms per second (health
 *               checks; the nodes' ownership polling);
 *   cpu         a fixed rate (the same for all): Envoy's CPU per 1000 requests, from the
 *               schedstat of all its threads (cpu.ts);
 *   throughput  closed loop, 64 in flight: requests per second and the L1 hit ratio.
 * "total / 1000" = Envoy's CPU per 1000 requests + the nodes' background CPU over the time 1000
 * requests take at the fixed rate.
 * "nodes ms / 1000 req" = the nodes' CPU per 1000 requests at the fixed rate (not in "total": the
 * ring_hash and round-robin fleets run the same node without keyway, so it shows what keyway's
 * ownership checks and load reports add on the node).
 * Flags: --quick, --rounds N, --variants a,b, --ownership rest|stream (how keyway's nodes learn
 * their shards; default stream: the ownership stream; rest: conditional polls of /v1/shardmap),
 * --hot on|off (keyway's hot-shard policy; default on, as keyway ships), --paired (each variant
 * at the same time as ring_hash, CPU read over the same slices: paired.ts), --route-shape
 * subset|table (keyway's `envoy.routeShape`; with table the ADS variants `keyway` and
 * `keyway-shard` and the ring_hash ones run, the static copies read the subset cluster),
 * --keyway-nodes agent|plain (default agent; plain: keyway's fleet runs without keyway's agent, no
 * ownership, L1 admission or load reports, which separates what the agent costs a node from what
 * keyway's routing does), --cpu-rate N (the fixed rate of the CPU measurement, per side when paired;
 * default 600, 150 requests a second per node: at 2000 every process spends about a third less per
 * request, and the ratios read alike, docs/benchmarks.md), --per-try-timeout-ms N (keyway's
 * `envoy.perTryTimeoutMs`; default keyway's own, 0 turns the hedged per-try timeout off).
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { adsBootstrap } from '../../e2e/support/bootstrap.js';
import { envoyBinaryPath, envoyVersion, startEnvoy, type EnvoyProcess } from '../../e2e/support/envoy.js';
import { startKeyway, type KeywayProcess } from '../../e2e/support/keyway.js';
import { freePort, freePorts } from '../../e2e/support/ports.js';
import { eventually } from '../../test/support/eventually.js';
import { median } from '../hitrate/stats.js';
import { ZipfSampler } from '../hitrate/zipf.js';
import { CacheClient, shardNaming, type ShardNaming } from './client.js';
import { cpuMs, cpuMsOf } from './cpu.js';
import { chooseVariants, rotated } from './order.js';
import { measurePair, pairedTable, type PairedSlice, type PairedThroughput } from './paired.js';
import { startCacheNode, type CacheNodeProcess } from './nodes.js';
import { keywayResources, keywayStaticBootstrap, plainBootstrap, ringHashFailoverBootstrap, TOGGLES, withoutRequestExtras, type Json, type KeywayResources } from './variants.js';

const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

interface Settings {
  readonly nodes: number;
  readonly shards: number;
  readonly keys: number;
  readonly l1PerNode: number;
  readonly storeDelayMs: number;
  readonly rounds: number;
  readonly warmRequests: number;
  /** Before the first round, through each fleet's own routing: its caches reach their steady state. */
  readonly prewarmRequests: number;
  readonly idleSeconds: number;
  readonly cpuSeconds: number;
  readonly cpuRate: number;
  readonly throughputSeconds: number;
  readonly throughputConcurrency: number;
}

const FULL: Settings = {
  nodes: 4,
  shards: 1024,
  keys: 100_000,
  l1PerNode: 2_000,
  storeDelayMs: 20,
  rounds: 3,
  warmRequests: 6_000,
  prewarmRequests: 30_000,
  idleSeconds: 4,
  cpuSeconds: 8,
  cpuRate: 600,
  throughputSeconds: 6,
  throughputConcurrency: 64,
};
const QUICK: Settings = { ...FULL, rounds: 1, warmRequests: 2_000, prewarmRequests: 12_000, idleSeconds: 2, cpuSeconds: 3, throughputSeconds: 3 };

/**
 * `ring-hash-twin` (paired runs only): plain nodes where ring_hash runs beside the keyway fleet's
 * variants, so that each side of a pair has served the same requests before it (below).
 */
type Fleet = 'keyway' | 'ring-hash' | 'round-robin' | 'ring-hash-twin';

interface Variant extends ShardNaming {
  readonly name: string;
  readonly fleet: Fleet;
  readonly what: string;
  /** Health checks to wait for before measuring. */
  readonly cluster?: string;
  start(port: number): Promise<EnvoyProcess>;
}

interface Measurement {
  readonly variant: string;
  readonly round: number;
  readonly idleEnvoyMsPerS: number;
  readonly idleNodesMsPerS: number;
  readonly idleKeywayMsPerS: number;
  readonly envoyMsPer1000: number;
  /** EDS updates Envoy applied from the idle phase to the end of the throughput phase. */
  readonly edsUpdatesMeasured: number;
  readonly nodesMsPer1000: number;
  /** CPU per 1000 requests in the throughput phase: Envoy, the nodes, this client (what bounds req/s). */
  readonly tpPer1000: { envoy: number; nodes: number; client: number };
  readonly totalMsPer1000: number;
  readonly cpuRequests: number;
  readonly cpuErrors: number;
  readonly throughputRps: number;
  readonly throughputErrors: number;
  readonly l1Ratio: number;
}

/**
 * A toggle's shard alias, built on its first use: the toggle reads the keyway resources of its own
 * route shape, which the other shapes' resources do not have (built eagerly, it failed every run
 * with `--route-shape table`).
 */
function lazyAlias(build: () => (shard: number) => number): (shard: number) => number {
  let alias: ((shard: number) => number) | undefined;
  return (shard) => (alias ??= build())(shard);
}

/**
 * A key sequence per (variant, round): variants that share a fleet must not replay the sequence
 * the one before them just cached, or the later ones read an L1 filled for them.
 */
function seedOf(variant: string, round: number): number {
  let h = 20_261_202 + round * 7_919;
  for (const c of variant) h = (Math.imul(h, 31) + c.charCodeAt(0)) >>> 0;
  return h;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { quick: { type: 'boolean' }, rounds: { type: 'string' }, variants: { type: 'string' }, ownership: { type: 'string' }, hot: { type: 'string' }, paired: { type: 'boolean' }, 'route-shape': { type: 'string' }, 'keyway-nodes': { type: 'string' }, 'cpu-rate': { type: 'string' }, 'per-try-timeout-ms': { type: 'string' } },
  });
  const base = values.quick ? QUICK : FULL;
  const cpuRate = values['cpu-rate'] === undefined ? base.cpuRate : Number(values['cpu-rate']);
  if (!Number.isSafeInteger(cpuRate) || cpuRate < 1) throw new Error(`--cpu-rate must be a positive integer (requests per second), got ${values['cpu-rate']}`);
  const s: Settings = { ...base, cpuRate, ...(values.rounds ? { rounds: Number(values.rounds) } : {}) };
  const ownership = values.ownership ?? 'stream';
  if (ownership !== 'rest' && ownership !== 'stream') throw new Error(`--ownership must be rest or stream, got ${ownership}`);
  const hot = values.hot ?? 'on';
  if (hot !== 'on' && hot !== 'off') throw new Error(`--hot must be on or off, got ${hot}`);
  const routeShape = values['route-shape'] ?? 'subset';
  if (routeShape !== 'subset' && routeShape !== 'table') throw new Error(`--route-shape must be subset or table, got ${routeShape}`);
  const keywayNodes = values['keyway-nodes'] ?? 'agent';
  if (keywayNodes !== 'agent' && keywayNodes !== 'plain') throw new Error(`--keyway-nodes must be agent or plain, got ${keywayNodes}`);
  // keyway's `envoy.perTryTimeoutMs` (its hedged per-try timeout; 0 turns it off): what the hedge costs.
  const perTry = values['per-try-timeout-ms'];
  if (perTry !== undefined && !/^[0-9]+$/.test(perTry)) throw new Error(`--per-try-timeout-ms must be a whole number of ms, got ${perTry}`);
  const dir = mkdtempSync(path.join(os.tmpdir(), 'keyway-dataplane-'));
  const cleanups: (() => Promise<void>)[] = [];
  const cleanup = async (): Promise<void> => {
    for (const c of cleanups.reverse()) await c().catch(() => {});
  };
  process.once('SIGINT', () => void cleanup().then(() => process.exit(130)));
  try {
    const listenerPort = await freePort();
    const ports = await freePorts(4 * s.nodes);
    const fleetPorts: Record<Fleet, number[]> = {
      keyway: ports.slice(0, s.nodes),
      'ring-hash': ports.slice(s.nodes, 2 * s.nodes),
      'round-robin': ports.slice(2 * s.nodes, 3 * s.nodes),
      'ring-hash-twin': ports.slice(3 * s.nodes),
    };
    const topology = [
      `shards: ${s.shards}`,
      'replicas: 2',
      'spread: none',
      `envoy: {listenerPort: ${listenerPort}, upstreamProtocol: http1, routeShape: ${routeShape}${perTry === undefined ? '' : `, perTryTimeoutMs: ${perTry}`}}`,
      'routing: {keyHeader: x-cache-key}',
      ...(hot === 'off' ? ['hotShards: {enabled: false}'] : []),
      'endpoints:',
      ...fleetPorts.keyway.map((p, i) => `  - {id: n${i}, address: 127.0.0.1, port: ${p}, locality: {region: r, zone: z, subzone: f}, weight: 1}`),
    ];
    writeFileSync(path.join(dir, 'topology.yaml'), `${topology.join('\n')}\n`);
    const keyway: KeywayProcess = await startKeyway({ configPath: path.join(dir, 'topology.yaml'), httpPort: 0, xdsPort: 0 });
    cleanups.push(() => keyway.stop());

    const nodeArgs = ['--l1-capacity', String(s.l1PerNode), '--l2-capacity', String(s.l1PerNode * 10), '--l3-delay-ms', String(s.storeDelayMs)];
    const own = keywayNodes === 'plain' ? [] : ownership === 'rest' ? ['--keyway-url', keyway.httpUrl] : ['--keyway-xds', `127.0.0.1:${keyway.xdsPort}`];
    const fleets = {} as Record<Fleet, CacheNodeProcess[]>;
    for (const fleet of (Object.keys(fleetPorts) as Fleet[]).filter((f) => f !== 'ring-hash-twin' || values.paired)) {
      // keyway's nodes go by the ids of the topology; Envoy alone's know nothing of keyway.
      const id = (i: number): string => (fleet === 'keyway' ? `n${i}` : `${fleet}-${i}`);
      fleets[fleet] = await Promise.all(fleetPorts[fleet].map((p, i) => startCacheNode(id(i), p, [...nodeArgs, ...(fleet === 'keyway' ? own : [])], dir)));
      cleanups.push(() => Promise.all(fleets[fleet].map((n) => n.stop())).then(() => {}));
    }

    const ads = (port: number): Promise<EnvoyProcess> => {
      if (port !== listenerPort) throw new Error('the ADS variant listens where the topology says');
      return startEnvoy({ bootstrap: adsBootstrap({ xdsPort: keyway.xdsPort, nodeId: 'bench-envoy' }), concurrency: 1 });
    };
    // keyway's resources as Envoy received them, for the static copies.
    // The route-table shape has a cluster per node: the health checks to wait for.
    const keywayCluster = routeShape === 'table' ? 'keyway-cache/node/' : 'keyway-cache';
    const probe = await ads(listenerPort);
    await waitHealthy(probe, keywayCluster, routeShape === 'table' ? s.nodes : s.nodes * 2);
    const resources: KeywayResources = await eventually('keyway\'s listener active in Envoy', async () => {
      const configs = (await probe.configDump({ includeEds: true })).configs as Json[];
      const listeners = configs.find((c) => String(c['@type']).endsWith('ListenersConfigDump'))?.dynamic_listeners as Json[] | undefined;
      return listeners?.[0]?.active_state ? keywayResources(configs) : undefined;
    }, { timeoutMs: 30_000, intervalMs: 200 });
    await probe.stop();

    // ring_hash's side of a pair: the ring-hash fleet beside the round-robin fleet's variants, its
    // twin beside the keyway fleet's. A fleet's caches carry what it served before, and the
    // closed loop's throughput follows how many answers wait for the store fetch: with one
    // ring_hash fleet beside every variant, it had served several pairs' requests to each one the
    // variant's fleet had (an A/A pair read 0.95 beside keyway's variants, 1.00 alone).
    const ringHashOn = (fleet: Fleet): Variant => ({
      name: 'ring-hash',
      fleet,
      what: 'Envoy alone, ring_hash on x-cache-key',
      start: (port) => startEnvoy({ bootstrap: plainBootstrap('RING_HASH', fleetPorts[fleet], port, dir), concurrency: 1 }),
    });
    const baseFleetOf = (fleet: Fleet): Fleet => (fleet === 'keyway' ? 'ring-hash-twin' : 'ring-hash');

    const variants: Variant[] = [
      { name: 'round-robin', fleet: 'round-robin', what: 'Envoy alone, round robin', start: (port) => startEnvoy({ bootstrap: plainBootstrap('ROUND_ROBIN', fleetPorts['round-robin'], port, dir), concurrency: 1 }) },
      ringHashOn('ring-hash'),
      { ...ringHashOn('round-robin'), name: 'ring-hash-again', what: 'ring_hash exactly as the base, on the round-robin fleet: an A/A control of the pairing (what a ratio of 1 looks like)' },
      {
        name: 'ring-hash-failover',
        fleet: 'round-robin',
        what: "ring_hash with keyway's health check, outlier detection and a failover retry (previous_hosts), on the round-robin fleet",
        cluster: 'cache',
        start: (port) => startEnvoy({ bootstrap: ringHashFailoverBootstrap(fleetPorts['round-robin'], port, dir, resources), concurrency: 1 }),
      },
      {
        name: 'ring-hash-lean',
        fleet: 'round-robin',
        what: "ring_hash with keyway's per-request defaults (no dynamic stats, no generated x-request-id, no x-envoy-* or server headers), on the round-robin fleet",
        start: (port) => startEnvoy({ bootstrap: withoutRequestExtras(plainBootstrap('RING_HASH', fleetPorts['round-robin'], port, dir)), concurrency: 1 }),
      },
      { name: 'keyway', fleet: 'keyway', what: 'keyway over ADS (what users run)', cluster: keywayCluster, start: ads },
      { name: 'keyway-shard', fleet: 'keyway', what: 'keyway over ADS, the client sends x-cache-shard', sendShard: true, cluster: keywayCluster, start: ads },
      {
        name: 'ring-hash-keyway-fleet',
        fleet: 'keyway',
        what: "Envoy alone, ring_hash on x-cache-key, in front of keyway's fleet (the nodes' share of the difference)",
        start: (port) => startEnvoy({ bootstrap: plainBootstrap('RING_HASH', fleetPorts.keyway, port, dir), concurrency: 1 }),
      },
      ...TOGGLES.map((t) => ({
        name: `keyway-${t.name}`,
        fleet: 'keyway' as const,
        what: t.what,
        ...(t.sendShard ? { sendShard: true } : {}),
        ...(t.shardAlias ? { shardAlias: lazyAlias(() => t.shardAlias!(resources)) } : {}),
        ...(t.shardInHost ? { shardInHost: true } : {}),
        cluster: t.healthCluster ?? 'keyway-cache',
        start: (port: number) => startEnvoy({ bootstrap: keywayStaticBootstrap(resources, t, port), concurrency: 1, ...(t.envoyEnv ? { env: t.envoyEnv() } : {}) }),
      })),
    ];
    const chosen = chooseVariants(values.variants, variants, 'ring-hash');

    // Every keyway variant routes a key to the same node, and each fleet keeps its caches from one
    // variant to the next: fill them first, so the first variant of a fleet does not start cold.
    // Paired, the fleets on both sides of a pair are filled alike: by ring_hash, except keyway's
    // (the round-robin fleet's pairs are ring_hash's A/A controls).
    const prewarm: Variant[] = values.paired
      ? [ringHashOn('round-robin'), ringHashOn('ring-hash'), ringHashOn('ring-hash-twin'), variants.find((x) => x.name === 'keyway')!]
      : ['round-robin', 'ring-hash', 'keyway'].map((name) => variants.find((x) => x.name === name)!);
    for (const v of prewarm) {
      const port = v.start === ads ? listenerPort : await freePort();
      const envoy = await v.start(port);
      try {
        if (v.cluster) await waitHealthy(envoy, v.cluster, s.nodes);
        const client = new CacheClient({ port, sampler: new ZipfSampler(s.keys, 1.0, 20_261_201), shardCount: s.shards, sendShard: false });
        await client.run({ concurrency: 64, requests: s.prewarmRequests });
        client.close();
      } finally {
        await envoy.stop();
      }
    }

    if (values.paired) {
      const ps = { ...s, slices: values.quick ? 3 : 8, sliceSeconds: 2 };
      const pairs = chosen.filter((x) => x.name !== 'ring-hash').map((x) => (x.start === ads ? { ...x, port: listenerPort } : x));
      const slices: PairedSlice[] = [];
      const tps: PairedThroughput[] = [];
      for (let round = 0; round < s.rounds; round++) {
        for (const v of round % 2 ? [...pairs].reverse() : pairs) {
          const baseFleet = baseFleetOf(v.fleet);
          const r = await measurePair(ringHashOn(baseFleet), v, { base: fleets[baseFleet], variant: fleets[v.fleet] }, ps, round, seedOf, (envoy, x) => (x.cluster ? waitHealthy(envoy, x.cluster, 1) : Promise.resolve()));
          slices.push(...r.slices);
          tps.push(r.throughput);
          const last = r.slices.map((x) => (x.envoyMsPer1000 / x.baseEnvoyMsPer1000).toFixed(2)).join(' ');
          process.stderr.write(`round ${round} ${v.name.padEnd(22)} Envoy x ring_hash per slice: ${last}; req/s ${r.throughput.rps.toFixed(0)} vs ${r.throughput.baseRps.toFixed(0)}\n`);
        }
      }
      process.stdout.write(`${pairedTable(pairs.map((x) => x.name), slices, tps, ps)}\n`);
      const out = path.join(REPO_ROOT, 'benchmarks', 'results', values.quick ? 'dataplane-cost-paired-quick.json' : 'dataplane-cost-paired.json');
      writeFileSync(out, `${JSON.stringify({ date: new Date().toISOString(), envoy: envoyVersion(envoyBinaryPath()), cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model, settings: ps, ownership, hot, keywayNodes, slices, throughput: tps }, null, 1)}\n`);
      process.stdout.write(`wrote ${path.relative(REPO_ROOT, out)}\n`);
      return;
    }
    const results: Measurement[] = [];
    const failures: { variant: string; round: number; error: string }[] = [];
    for (let round = 0; round < s.rounds; round++) {
      // Rotate the order each round: no variant always runs first or last.
      const order = rotated(chosen, round);
      for (const v of order) {
        try {
          const m = await measure(v, round, s, fleets[v.fleet], keyway, v.start === ads ? listenerPort : await freePort());
          results.push(m);
          process.stderr.write(
            `round ${round} ${v.name.padEnd(22)} envoy ${m.envoyMsPer1000.toFixed(1)} ms/1000  total ${m.totalMsPer1000.toFixed(1)}  nodes ${m.nodesMsPer1000.toFixed(1)} ms/1000  tp envoy/nodes/client ${m.tpPer1000.envoy.toFixed(0)}/${m.tpPer1000.nodes.toFixed(0)}/${m.tpPer1000.client.toFixed(0)} ms/1000  idle envoy ${m.idleEnvoyMsPerS.toFixed(1)} nodes ${m.idleNodesMsPerS.toFixed(1)} ms/s  ${m.throughputRps.toFixed(0)} rps  L1 ${(m.l1Ratio * 100).toFixed(1)}%  eds updates ${m.edsUpdatesMeasured}  errors ${m.cpuErrors + m.throughputErrors}\n`,
          );
        } catch (err) {
          failures.push({ variant: v.name, round, error: (err as Error).message.split('\n')[0]! });
          process.stderr.write(`round ${round} ${v.name}: FAILED ${(err as Error).message.split('\n')[0]}\n`);
        }
      }
    }
    const report = summarize(chosen, results, s);
    process.stdout.write(`${report}\n`);
    if (failures.length > 0) process.stdout.write(`failed: ${JSON.stringify(failures)}\n`);
    mkdirSync(path.join(REPO_ROOT, 'benchmarks', 'results'), { recursive: true });
    const out = path.join(REPO_ROOT, 'benchmarks', 'results', values.quick ? 'dataplane-cost-quick.json' : 'dataplane-cost.json');
    writeFileSync(
      out,
      `${JSON.stringify({ date: new Date().toISOString(), envoy: envoyVersion(envoyBinaryPath()), cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model, settings: s, ownership, results, failures }, null, 1)}\n`,
    );
    process.stdout.write(`wrote ${path.relative(REPO_ROOT, out)}\n`);
  } finally {
    await cleanup();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Resolves once `cluster` has at least `hosts` hosts and every priority-0 host (the primaries) is healthy. */
async function waitHealthy(envoy: EnvoyProcess, cluster: string, hosts: number): Promise<void> {
  // A name ending in '-' or '/' stands for every cluster whose name starts with it.
  const hostsOf = async () => (cluster.endsWith('-') || cluster.endsWith('/') ? (await envoy.clusters()).filter((h) => h.cluster.startsWith(cluster)) : envoy.clusters(cluster));
  await eventually(`${hosts} hosts in ${cluster}, its primaries healthy`, hostsOf, {
    accept: (hs) => hs.length >= hosts && hs.filter((h) => h.priority === 0).every((h) => h.healthy),
    timeoutMs: 30_000,
    intervalMs: 100,
  });
}

async function measure(v: Variant, round: number, s: Settings, nodes: readonly CacheNodeProcess[], keyway: KeywayProcess, port: number): Promise<Measurement> {
  const envoy = await v.start(port);
  try {
    if (v.cluster) await waitHealthy(envoy, v.cluster, 1);
    const client = new CacheClient({ port, sampler: new ZipfSampler(s.keys, 1.0, seedOf(v.name, round)), shardCount: s.shards, ...shardNaming(v) });
    try {
      await client.run({ concurrency: 32, requests: s.warmRequests });
      await sleep(1_000);
      const pids = nodes.map((n) => n.pid);
      // EDS updates Envoy applied (keyway over ADS only: ownership changes, e.g. hot-shard moves).
      const edsUpdates = async (): Promise<number> => (await envoy.statValue('cluster.keyway-cache.update_success')) ?? 0;
      const eds0 = await edsUpdates();
      const idle0 = { envoy: cpuMs(envoy.pid), nodes: cpuMsOf(pids), keyway: cpuMs(keyway.pid()), at: performance.now() };
      await sleep(s.idleSeconds * 1000);
      const idleS = (performance.now() - idle0.at) / 1000;
      const idleEnvoyMsPerS = (cpuMs(envoy.pid) - idle0.envoy) / idleS;
      const idleNodesMsPerS = (cpuMsOf(pids) - idle0.nodes) / idleS;
      const idleKeywayMsPerS = (cpuMs(keyway.pid()) - idle0.keyway) / idleS;

      const e0 = cpuMs(envoy.pid);
      const n0 = cpuMsOf(pids);
      const load = await client.run({ concurrency: 32, seconds: s.cpuSeconds, rate: s.cpuRate });
      const envoyMsPer1000 = ((cpuMs(envoy.pid) - e0) / load.completed) * 1000;
      const nodesMsPer1000 = ((cpuMsOf(pids) - n0) / load.completed) * 1000;
      const secondsPer1000 = load.seconds / load.completed * 1000;
      const totalMsPer1000 = envoyMsPer1000 + idleNodesMsPerS * secondsPer1000;

      const t0 = { envoy: cpuMs(envoy.pid), nodes: cpuMsOf(pids), self: process.cpuUsage() };
      const tp = await client.run({ concurrency: s.throughputConcurrency, seconds: s.throughputSeconds });
      const selfUs = process.cpuUsage(t0.self);
      const tpPer1000 = { envoy: ((cpuMs(envoy.pid) - t0.envoy) / tp.completed) * 1000, nodes: ((cpuMsOf(pids) - t0.nodes) / tp.completed) * 1000, client: ((selfUs.user + selfUs.system) / 1000 / tp.completed) * 1000 };
      const edsUpdatesMeasured = (await edsUpdates()) - eds0;
      return {
        variant: v.name,
        edsUpdatesMeasured,
        round,
        idleEnvoyMsPerS,
        idleNodesMsPerS,
        idleKeywayMsPerS,
        envoyMsPer1000,
        nodesMsPer1000,
        tpPer1000,
        totalMsPer1000,
        cpuRequests: load.completed,
        cpuErrors: load.errors,
        throughputRps: tp.completed / tp.seconds,
        throughputErrors: tp.errors,
        l1Ratio: tp.l1 / Math.max(1, tp.completed - tp.errors),
      };
    } finally {
      client.close();
    }
  } finally {
    await envoy.stop();
  }
}

function summarize(variants: readonly Variant[], results: readonly Measurement[], s: Settings): string {
  const byRound = new Map<number, Map<string, Measurement>>();
  for (const m of results) {
    if (!byRound.has(m.round)) byRound.set(m.round, new Map());
    byRound.get(m.round)!.set(m.variant, m);
  }
  const range = (xs: number[], d = 1): string => (xs.length > 1 ? ` (${Math.min(...xs).toFixed(d)}-${Math.max(...xs).toFixed(d)})` : '');
  const ratio = (name: string, f: (m: Measurement) => number): number[] =>
    [...byRound.values()].flatMap((r) => (r.get(name) && r.get('ring-hash') ? [f(r.get(name)!) / f(r.get('ring-hash')!)] : []));
  const lines = [
    `Envoy CPU per 1000 requests at ${s.cpuRate} req/s; background = idle CPU per second; throughput closed loop ${s.throughputConcurrency} in flight, ${s.storeDelayMs} ms store fetch. Medians over ${s.rounds} round(s)${s.rounds > 1 ? ' (min-max)' : ''}; ratios paired per round against ring-hash.`,
    '',
    '| variant | Envoy ms / 1000 req | total ms / 1000 req | x ring_hash (total) | Envoy idle ms/s | nodes idle ms/s | nodes ms / 1000 req | req/s | x ring_hash (req/s) | L1 hit |',
    '|---|---|---|---|---|---|---|---|---|---|',
  ];
  for (const v of variants) {
    const ms = results.filter((m) => m.variant === v.name);
    if (ms.length === 0) continue;
    const col = (f: (m: Measurement) => number, d = 1): string => `${median(ms.map(f)).toFixed(d)}${range(ms.map(f), d)}`;
    const r = (f: (m: Measurement) => number): string => {
      const xs = ratio(v.name, f);
      return xs.length ? `${median(xs).toFixed(3)}${range(xs, 3)}` : '';
    };
    lines.push(
      `| ${v.name} | ${col((m) => m.envoyMsPer1000)} | ${col((m) => m.totalMsPer1000)} | ${r((m) => m.totalMsPer1000)} | ${col((m) => m.idleEnvoyMsPerS)} | ${col((m) => m.idleNodesMsPerS)} | ${col((m) => m.nodesMsPer1000)} | ${col((m) => m.throughputRps, 0)} | ${r((m) => m.throughputRps)} | ${col((m) => m.l1Ratio * 100)}% |`,
    );
  }
  lines.push('', ...variants.map((v) => `- ${v.name}: ${v.what}`));
  return lines.join('\n');
}

void main().catch((err: unknown) => {
  process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
