/**
 * The open-loop client and helpers shared by the benchmarks that measure Envoy's tail while keyway's
 * map changes (churn-tail.ts, flip-ticks.ts; docs/benchmarks.md "Envoy's tail while the map changes").
 */
import http from 'node:http';
import { mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { startCacheNodes, type CacheNodes } from '../../e2e/support/cache-nodes.js';
import type { EnvoyProcess } from '../../e2e/support/envoy.js';
import { eventually } from '../../test/support/eventually.js';
import { keyToShard } from '../../src/sharding/key-to-shard.js';
import { quantile } from '../hitrate/hot-stats.js';
import { median } from '../hitrate/stats.js';

/** The fleet both benchmarks put behind Envoy: eight plain nodes (a ninth joins), one service. */
export const NODE_COUNT = 8;
export const SERVICE = 'keyway-cache';
/** The client's keys: `item:0` .. `item:<KEYS - 1>`. */
export const KEYS = 20_000;

/** One span of the open loop: latency quantiles of the answered requests and the failures. */
export interface Phase {
  readonly p50: number;
  readonly p99: number;
  readonly max: number;
  readonly errors: number;
  /** The errors by HTTP status and the start of the body, or `error` for a failed connection or a timeout. */
  readonly errorsBy: Record<string, number>;
  readonly sent: number;
}

export interface DriveOptions {
  readonly port: number;
  readonly rate: number;
  readonly seconds: number;
  readonly agent: http.Agent;
  /** Offsets the key sequence, so spans do not repeat each other's keys. */
  readonly firstKey: number;
  /** Keys are `item:0` .. `item:<keys - 1>`. */
  readonly keys: number;
  /** Set when the client sends `x-cache-shard` (hash contract 1 over this many shards), not only the key. */
  readonly shardCount?: number;
}

/**
 * Open loop: request i is due at start + i / rate; its latency counts from then, so a stall delays
 * every request behind it (no coordinated omission).
 */
export async function drive(o: DriveOptions): Promise<Phase> {
  const start = performance.now();
  const total = Math.round(o.rate * o.seconds);
  const latencies: number[] = [];
  let errors = 0;
  const errorsBy: Record<string, number> = {};
  const fail = (why: string): void => {
    errors++;
    errorsBy[why] = (errorsBy[why] ?? 0) + 1;
  };
  const inflight: Promise<void>[] = [];
  for (let i = 0; i < total; i++) {
    const due = start + (i * 1000) / o.rate;
    const wait = due - performance.now();
    if (wait > 0) await sleep(wait);
    const key = `item:${(o.firstKey + i * 7919) % o.keys}`;
    // From the due time when sent late (a stall counts), from the send when a timer fired early.
    const from = Math.min(due, performance.now());
    inflight.push(
      new Promise<void>((resolve) => {
        const headers: Record<string, string> = o.shardCount === undefined ? { 'x-cache-key': key } : { 'x-cache-key': key, 'x-cache-shard': String(keyToShard(key, o.shardCount)) };
        const req = http.request({ host: '127.0.0.1', port: o.port, path: '/cache/k', agent: o.agent, headers, timeout: 5_000 }, (res) => {
          let body = '';
          res.on('data', (chunk: Buffer) => {
            if (res.statusCode !== 200 && body.length < 80) body += chunk.toString('utf8');
          });
          res.on('end', () => {
            if (res.statusCode === 200) latencies.push(performance.now() - from);
            else fail(`${res.statusCode} ${body.slice(0, 60).trim()}`);
            resolve();
          });
          res.on('error', () => (fail('error'), resolve()));
        });
        req.on('timeout', () => req.destroy(new Error('timeout')));
        req.on('error', () => (fail('error'), resolve()));
        req.end();
      }),
    );
  }
  await Promise.all(inflight);
  return { p50: quantile(latencies, 0.5), p99: quantile(latencies, 0.99), max: quantile(latencies, 1), errors, errorsBy, sent: total };
}

/** Writes aside and renames: both keyway's file source and Envoy's path EDS watch for a moved file. */
export function writeAtomic(file: string, text: string, n: number): void {
  const tmp = `${file}.${n}.tmp`;
  writeFileSync(tmp, text);
  renameSync(tmp, file);
}

/** Waits until Envoy lists `count` hosts in `cluster`. */
export async function waitHealthy(envoy: EnvoyProcess, cluster: string, count: number): Promise<void> {
  await eventually(`${count} hosts in ${cluster}`, () => envoy.clusters(cluster), { accept: (h) => h.length >= count, timeoutMs: 30_000 });
}

export function fmt(x: number): string {
  return x.toFixed(1);
}

/** A table cell: the median and the range of `xs`. */
export function cell(xs: number[]): string {
  return `${fmt(median(xs))} (${fmt(Math.min(...xs))}-${fmt(Math.max(...xs))})`;
}

/**
 * Runs each variant once a round on one fleet of NODE_COUNT + 1 plain nodes, rotating the order
 * every round (the machine is noisy: no variant always goes first), each run in a fresh temporary
 * directory; prints each run's line and returns the runs in the order they ran.
 */
export async function alternateRounds<V extends { readonly name: string }, R>(
  rounds: number,
  variants: readonly V[],
  run: (nodes: CacheNodes, v: V, dir: string) => Promise<R>,
  line: (v: V, round: number, r: R) => string,
): Promise<(R & { variant: string; round: number })[]> {
  const rows: (R & { variant: string; round: number })[] = [];
  const nodes = await startCacheNodes(NODE_COUNT + 1);
  try {
    for (let round = 0; round < rounds; round++) {
      for (let i = 0; i < variants.length; i++) {
        const v = variants[(i + round) % variants.length]!;
        const dir = mkdtempSync(path.join(tmpdir(), 'keyway-tail-bench-'));
        try {
          const r = await run(nodes, v, dir);
          rows.push({ ...r, variant: v.name, round });
          process.stdout.write(`round ${round} ${line(v, round, r)}\n`);
        } finally {
          rmSync(dir, { recursive: true, force: true });
        }
      }
    }
  } finally {
    await nodes.stopAll();
  }
  return rows;
}
