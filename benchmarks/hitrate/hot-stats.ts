/**
 * The figures of one span of the hot-shard benchmark: how far the busiest node is above its weight
 * share, the client's p99 latency and the L1 hit ratio, from the requests completed in the span.
 */
import { Outcome, type Observed } from './load.js';
import { median } from './stats.js';

export interface HotFigures {
  /** max over nodes of (node's requests / all requests) / (node's weight / total weight). */
  readonly maxLoadOverShare: number;
  /** The node that carries it. */
  readonly busiest: string;
  /** Client latency through Envoy, 99th percentile, ms. */
  readonly p99Ms: number;
  readonly p50Ms: number;
  /** L1 hits / requests served. */
  readonly l1: number;
  readonly served: number;
  readonly errors: number;
}

/** The q-quantile (0..1) of `xs` (nearest rank). */
export function quantile(xs: readonly number[], q: number): number {
  if (xs.length === 0) return 0;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))]!;
}

/**
 * Mean (with its standard error), median, standard deviation and 10-90 % range of `xs`, two
 * decimals: how the offline replays (placement-sim.ts, hot-l1-sim.ts) summarize figures over placements.
 */
export function describeSpread(xs: readonly number[]): string {
  const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
  const sd = Math.sqrt(xs.reduce((a, b) => a + (b - mean) ** 2, 0) / Math.max(1, xs.length - 1));
  return `mean ${mean.toFixed(2)} (se ${(sd / Math.sqrt(xs.length)).toFixed(2)}), median ${median(xs).toFixed(2)}, sd ${sd.toFixed(2)}, 10-90% ${quantile(xs, 0.1).toFixed(2)} to ${quantile(xs, 0.9).toFixed(2)}`;
}

/** Figures of the requests `observed[from..to)` on nodes with these weights (by node id). */
export function hotFigures(observed: readonly Observed[], from: number, to: number, weights: ReadonlyMap<string, number>): HotFigures {
  const perNode = new Map<string, number>([...weights.keys()].map((id) => [id, 0]));
  const latencies: number[] = [];
  let served = 0;
  let l1 = 0;
  let errors = 0;
  for (let i = from; i < to; i++) {
    const o = observed[i]!;
    latencies.push(o.latencyMs);
    if (o.outcome === Outcome.Error || o.servedBy === undefined) {
      errors++;
      continue;
    }
    served++;
    if (o.outcome === Outcome.L1) l1++;
    perNode.set(o.servedBy, (perNode.get(o.servedBy) ?? 0) + 1);
  }
  const totalWeight = [...weights.values()].reduce((a, b) => a + b, 0);
  let maxLoadOverShare = 0;
  let busiest = '';
  for (const [id, n] of perNode) {
    const share = (weights.get(id) ?? 0) / totalWeight;
    const ratio = served === 0 || share === 0 ? 0 : n / served / share;
    if (ratio > maxLoadOverShare) {
      maxLoadOverShare = ratio;
      busiest = id;
    }
  }
  return { maxLoadOverShare, busiest, p99Ms: quantile(latencies, 0.99), p50Ms: quantile(latencies, 0.5), l1: served === 0 ? 0 : l1 / served, served, errors };
}
