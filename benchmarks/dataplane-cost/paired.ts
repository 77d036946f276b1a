/**
 * The paired form of the data-plane cost benchmark (`npm run bench:dataplane -- --paired`): a
 * variant and ring_hash run at the same time, each with its own Envoy and fleet, one client
 * sending to both at the same rate, and their CPU is read over the same short slices. A shared
 * machine slows both alike, so the ratio of each slice cancels what the sequential rounds of
 * run.ts cannot (the same variant moves 15 to 40 % between those rounds).
 *
 * Per pair and round, after a warm-up of both: `slices` slices of `sliceSeconds` at `cpuRate`
 * requests per second to each; per slice, CPU per 1000 requests of each Envoy, and of each Envoy
 * plus its fleet's nodes (everything the nodes spent in the slice: requests, health checks,
 * keyway's ownership stream and load reports, garbage collection). Then both closed loops at once
 * for `throughputSeconds`: the ratio of requests completed, and each side's share of answers that
 * waited for the store fetch (L3). Ratios are variant over ring_hash. ring_hash runs on a fleet of
 * its own per variant fleet (run.ts), so both sides' caches have served the same requests.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { EnvoyProcess } from '../../e2e/support/envoy.js';
import { freePort } from '../../e2e/support/ports.js';
import { median } from '../hitrate/stats.js';
import { ZipfSampler } from '../hitrate/zipf.js';
import { CacheClient, shardNaming, type Burst, type ShardNaming } from './client.js';
import { cpuMs, cpuMsOf } from './cpu.js';
import type { CacheNodeProcess } from './nodes.js';

/** What a variant needs to run in a pair (run.ts's Variant). */
export interface PairedVariant extends ShardNaming {
  readonly name: string;
  readonly cluster?: string;
  /** The listener port it must use (keyway over ADS: the topology's); otherwise a free one. */
  readonly port?: number;
  start(port: number): Promise<EnvoyProcess>;
}

export interface PairedSettings {
  readonly keys: number;
  readonly shards: number;
  readonly warmRequests: number;
  readonly cpuRate: number;
  readonly slices: number;
  readonly sliceSeconds: number;
  readonly throughputSeconds: number;
  readonly throughputConcurrency: number;
}

/** One slice: CPU per 1000 requests of the variant and of ring_hash over the same seconds. */
export interface PairedSlice {
  readonly variant: string;
  readonly round: number;
  readonly envoyMsPer1000: number;
  readonly baseEnvoyMsPer1000: number;
  readonly allMsPer1000: number;
  readonly baseAllMsPer1000: number;
}

export interface PairedThroughput {
  readonly variant: string;
  readonly round: number;
  readonly rps: number;
  readonly baseRps: number;
  readonly l1: number;
  readonly baseL1: number;
  /** Share of the answers that waited for the store fetch (L3), each side. */
  readonly l3: number;
  readonly baseL3: number;
  readonly errors: number;
}

interface Side {
  readonly envoy: EnvoyProcess;
  readonly client: CacheClient;
  readonly nodes: readonly number[];
}

const cpuOf = (side: Side): { envoy: number; all: number } => {
  const envoy = cpuMs(side.envoy.pid);
  return { envoy, all: envoy + cpuMsOf(side.nodes) };
};

/**
 * Runs `variant` beside `base` (ring_hash) for one round; `waitReady` waits for a variant's
 * health checks. Returns the slices and the throughput of the round.
 */
export async function measurePair(
  base: PairedVariant,
  variant: PairedVariant,
  fleets: { base: readonly CacheNodeProcess[]; variant: readonly CacheNodeProcess[] },
  s: PairedSettings,
  round: number,
  seed: (name: string, round: number) => number,
  waitReady: (envoy: EnvoyProcess, v: PairedVariant) => Promise<void>,
): Promise<{ slices: PairedSlice[]; throughput: PairedThroughput }> {
  const started: EnvoyProcess[] = [];
  const clients: CacheClient[] = [];
  try {
    // ring_hash gets a key sequence of its own per pair: a sequence it already served would find its caches full.
    const side = async (v: PairedVariant, nodes: readonly CacheNodeProcess[], seedName: string): Promise<Side> => {
      const port = v.port ?? (await freePort());
      const envoy = await v.start(port);
      started.push(envoy);
      await waitReady(envoy, v);
      const client = new CacheClient({ port, sampler: new ZipfSampler(s.keys, 1.0, seed(seedName, round)), shardCount: s.shards, ...shardNaming(v) });
      clients.push(client);
      return { envoy, client, nodes: nodes.map((n) => n.pid) };
    };
    const b = await side(base, fleets.base, `${base.name}:${variant.name}`);
    const v = await side(variant, fleets.variant, variant.name);
    await Promise.all([b.client.run({ concurrency: 32, requests: s.warmRequests }), v.client.run({ concurrency: 32, requests: s.warmRequests })]);
    await sleep(1_000);

    const slices: PairedSlice[] = [];
    for (let i = 0; i < s.slices; i++) {
      const b0 = cpuOf(b);
      const v0 = cpuOf(v);
      const [lb, lv] = await Promise.all([
        b.client.run({ concurrency: 32, seconds: s.sliceSeconds, rate: s.cpuRate }),
        v.client.run({ concurrency: 32, seconds: s.sliceSeconds, rate: s.cpuRate }),
      ]);
      const b1 = cpuOf(b);
      const v1 = cpuOf(v);
      const per1000 = (ms: number, n: number): number => (ms / Math.max(1, n)) * 1000;
      slices.push({
        variant: variant.name,
        round,
        envoyMsPer1000: per1000(v1.envoy - v0.envoy, lv.completed),
        baseEnvoyMsPer1000: per1000(b1.envoy - b0.envoy, lb.completed),
        allMsPer1000: per1000(v1.all - v0.all, lv.completed),
        baseAllMsPer1000: per1000(b1.all - b0.all, lb.completed),
      });
    }
    // Both closed loops at once, twice: the loop started first took about 5 % more (an A/A
    // control, ring_hash against itself, gave 0.946), so each side starts first once.
    const burst = { concurrency: s.throughputConcurrency, seconds: s.throughputSeconds / 2 };
    const [tb1, tv1] = await Promise.all([b.client.run(burst), v.client.run(burst)]);
    const [tv2, tb2] = await Promise.all([v.client.run(burst), b.client.run(burst)]);
    const join = (x: Burst, y: Burst): Burst => ({ completed: x.completed + y.completed, errors: x.errors + y.errors, l1: x.l1 + y.l1, l3: x.l3 + y.l3, seconds: x.seconds + y.seconds });
    const tb = join(tb1, tb2);
    const tv = join(tv1, tv2);
    const share = (n: number, t: Burst): number => n / Math.max(1, t.completed - t.errors);
    return {
      slices,
      throughput: {
        variant: variant.name,
        round,
        rps: tv.completed / tv.seconds,
        baseRps: tb.completed / tb.seconds,
        l1: share(tv.l1, tv),
        baseL1: share(tb.l1, tb),
        l3: share(tv.l3, tv),
        baseL3: share(tb.l3, tb),
        errors: tv.errors + tb.errors,
      },
    };
  } finally {
    for (const c of clients) c.close();
    await Promise.all(started.map((e) => e.stop()));
  }
}

/** The table docs/benchmarks.md quotes: medians over every slice (CPU) and round (throughput), min-max. */
export function pairedTable(variants: readonly string[], slices: readonly PairedSlice[], tps: readonly PairedThroughput[], s: PairedSettings): string {
  const cell = (xs: number[], d: number): string => (xs.length ? `${median(xs).toFixed(d)} (${Math.min(...xs).toFixed(d)}-${Math.max(...xs).toFixed(d)})` : '');
  const lines = [
    `Paired with ring_hash, ${s.slices} slices of ${s.sliceSeconds} s at ${s.cpuRate} req/s each per round; throughput: both closed loops at once, ${s.throughputConcurrency} in flight each, each side started first for half the time. Medians (min-max) over every slice / round.`,
    '',
    '| variant | Envoy ms / 1000 req | ring_hash Envoy ms / 1000 req | x ring_hash (Envoy) | Envoy + nodes ms / 1000 req | x ring_hash (Envoy + nodes) | x ring_hash (nodes) | req/s | x ring_hash (req/s) | L1 hit / ring_hash | store fetches / ring_hash |',
    '|---|---|---|---|---|---|---|---|---|---|---|',
  ];
  for (const name of variants) {
    const sl = slices.filter((x) => x.variant === name);
    const tp = tps.filter((x) => x.variant === name);
    if (sl.length === 0) continue;
    lines.push(
      `| ${name} | ${cell(sl.map((x) => x.envoyMsPer1000), 1)} | ${cell(sl.map((x) => x.baseEnvoyMsPer1000), 1)} | ${cell(sl.map((x) => x.envoyMsPer1000 / x.baseEnvoyMsPer1000), 3)} | ` +
        `${cell(sl.map((x) => x.allMsPer1000), 1)} | ${cell(sl.map((x) => x.allMsPer1000 / x.baseAllMsPer1000), 3)} | ` +
        `${cell(sl.map((x) => (x.allMsPer1000 - x.envoyMsPer1000) / (x.baseAllMsPer1000 - x.baseEnvoyMsPer1000)), 3)} | ${cell(tp.map((x) => x.rps), 0)} | ` +
        `${cell(tp.map((x) => x.rps / x.baseRps), 3)} | ${(median(tp.map((x) => x.l1)) * 100).toFixed(1)}% / ${(median(tp.map((x) => x.baseL1)) * 100).toFixed(1)}% | ` +
        `${(median(tp.map((x) => x.l3)) * 100).toFixed(1)}% / ${(median(tp.map((x) => x.baseL3)) * 100).toFixed(1)}% |`,
    );
  }
  return lines.join('\n');
}
