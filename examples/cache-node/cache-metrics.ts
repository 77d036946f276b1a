/**
 * The cache node's Prometheus metrics, with the same OpenTelemetry stack as keyway. Their names
 * and labels (CACHE_NODE_METRICS) are what the "keyway / Locality" dashboard reads: any cache that
 * exports them gets the same panels.
 *
 * By default no counter carries a `shard` label, so the series count does not grow with S and the
 * dashboards' sums are the node's own totals at any S. Per-shard series are an opt-in
 * (`shardLabels`) with the SDK's cardinality limit raised to a stated bound: past it the SDK folds
 * new series into `otel_metric_overflow="true"` (which no dashboard query selects) and the node
 * says so once in its log.
 */
import { instrumentName, CACHE_NODE_METRICS as C } from '../../src/telemetry/metric-names.js';
import { createPrometheusRegistry } from '../../src/telemetry/prometheus-registry.js';
import type { NodeLocality, NodeOwnership, OwnerLabel } from './ownership.js';
import type { Lookup } from './tiers.js';

/** How a warm-up ended: entries copied from a peer, no peer had any (or none answered), or aborted. */
export type WarmOutcome = 'copied' | 'empty' | 'aborted';

/** Warm-ups take milliseconds (a local peer) to the warm timeout (30 s by default). */
const WARM_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

/** Series per instrument with per-shard labels on, unless `--shard-metrics-limit` says otherwise. */
export const DEFAULT_SHARD_SERIES_LIMIT = 100_000;
/**
 * Series one shard can add to the widest per-shard instrument: lookups by (tier, result) are
 * l1 hit, l1 miss, l2 hit, l2 miss, l3 hit, and one to spare (docs/observability.md).
 */
export const SERIES_PER_SHARD = 6;

export interface ShardLabelOptions {
  /** The SDK's aggregation cardinality limit for each per-shard instrument. */
  readonly seriesLimit: number;
}

export interface CacheMetricsOptions {
  /** Per-shard `shard` labels on the counters (off when undefined: the default). */
  readonly shardLabels?: ShardLabelOptions;
  /** Told once when the per-shard series may pass `seriesLimit`. */
  readonly log?: (record: Record<string, unknown>) => void;
}

export interface CacheMetricsSource {
  readonly node: string;
  /** The locality labels in force (flags, else what keyway says). */
  locality(): NodeLocality;
  ownership(): NodeOwnership | undefined;
  /** Epoch ms of the last successful shard-map read. */
  lastShardMapRead(): number | undefined;
  entries(): { readonly l1: number; readonly l2: number };
}

export interface CacheMetrics {
  /** One request served for `shard` ('' when unknown), with the tiers it consulted. */
  recordRequest(shard: number | undefined, owner: OwnerLabel, lookups: readonly Lookup[]): void;
  /** One request refused because its key does not hash to `shard`, the x-cache-shard it carried. */
  recordMisdirected(shard: number): void;
  /** One shard's warm-up: entries imported into L1, its duration and how it ended. */
  recordWarm(shard: number, imported: number, seconds: number, outcome: WarmOutcome): void;
  /** One request served for `shard` while this node was still warming it (not routed here yet). */
  recordRequestWhileWarming(shard: number): void;
  render(): Promise<string>;
  shutdown(): Promise<void>;
}

/** The counters that take a `shard` label when per-shard labels are on. */
const PER_SHARD = [C.lookups, C.requests, C.misdirected, C.warmEntries, C.requestsWhileWarming].map(instrumentName);

/**
 * Builds the node's registry: the Prometheus text format on `GET /metrics`, with the names and
 * labels of CACHE_NODE_METRICS (docs/observability.md).
 */
export function createCacheMetrics(src: CacheMetricsSource, opts: CacheMetricsOptions = {}): CacheMetrics {
  const perShard = opts.shardLabels;
  const registry = createPrometheusRegistry({
    serviceName: 'keyway-cache-node',
    scope: 'keyway-cache-node',
    ...(perShard ? { cardinalityLimits: Object.fromEntries(PER_SHARD.map((name) => [name, perShard.seriesLimit])) } : {}),
  });
  const by = perShard ? ', by shard' : '';
  const lookups = registry.meter.createCounter(instrumentName(C.lookups), { description: `Cache lookups per tier (l1, l2, l3) and result (hit, miss)${by}` });
  const requests = registry.meter.createCounter(instrumentName(C.requests), {
    description: `Requests served, by whether this node owns the shard (true, false, unknown)${by}`,
  });
  const misdirected = registry.meter.createCounter(instrumentName(C.misdirected), {
    description: `Requests refused with 421 because the key does not hash to the x-cache-shard they carried${perShard ? ', by the carried shard' : ''}`,
  });
  const warmEntries = registry.meter.createCounter(instrumentName(C.warmEntries), {
    description: `Entries copied into L1 from a serving owner by warm-ups and kept there (not those L1 held already or too old to stay)${by}`,
  });
  const warmDuration = registry.meter.createHistogram(C.warmDuration, {
    description: "One shard's warm-up, from its start to its end, by outcome (copied, empty, aborted)",
    unit: 's',
    advice: { explicitBucketBoundaries: WARM_BUCKETS },
  });
  const whileWarming = registry.meter.createCounter(instrumentName(C.requestsWhileWarming), {
    description: 'Requests served for a shard this node was still warming: keyway routed it here before the node reported warm',
  });
  const base = () => ({ node: src.node, ...src.locality() });
  // Shards labelled so far, to tell once when they may pass the limit (SERIES_PER_SHARD each).
  const labelled = new Set<number>();
  let overflowTold = false;
  /** The `shard` label, or none when per-shard labels are off. */
  const shardLabel = (shard: number | undefined): { shard?: string } => {
    if (!perShard) return {};
    if (shard !== undefined && !overflowTold && !labelled.has(shard)) {
      labelled.add(shard);
      if (labelled.size * SERIES_PER_SHARD > perShard.seriesLimit) {
        overflowTold = true;
        opts.log?.({
          msg: 'per-shard metrics may pass their series limit: new series go to otel_metric_overflow="true"; raise --shard-metrics-limit or turn --shard-metrics off',
          shards: labelled.size,
          seriesLimit: perShard.seriesLimit,
        });
      }
    }
    return { shard: shard === undefined ? '' : String(shard) };
  };

  registry.live.add(
    [
      { name: C.entries, description: 'Entries held per tier' },
      { name: C.ownedShards, description: 'Shards this node owns, by role (primary, replica)' },
      { name: C.shardMapAge, description: "Seconds since this node last read keyway's shard map", unit: 's' },
    ],
    (observe) => {
      const labels = base();
      const e = src.entries();
      observe(C.entries, e.l1, { ...labels, tier: 'l1' });
      observe(C.entries, e.l2, { ...labels, tier: 'l2' });
      const o = src.ownership();
      if (o) {
        observe(C.ownedShards, o.primary.size, { ...labels, role: 'primary' });
        observe(C.ownedShards, o.replica.size, { ...labels, role: 'replica' });
      }
      const read = src.lastShardMapRead();
      if (read !== undefined) observe(C.shardMapAge, Math.max(0, (Date.now() - read) / 1000), labels);
    },
  );

  return {
    recordRequest(shard, owner, consulted) {
      const labels = { ...base(), ...shardLabel(shard) };
      requests.add(1, { ...labels, owner });
      for (const l of consulted) lookups.add(1, { ...labels, tier: l.tier, result: l.result });
    },
    recordMisdirected(shard) {
      misdirected.add(1, { ...base(), ...shardLabel(shard) });
    },
    recordWarm(shard, imported, seconds, outcome) {
      const labels = base();
      warmEntries.add(imported, { ...labels, ...shardLabel(shard) });
      warmDuration.record(seconds, { ...labels, outcome });
    },
    recordRequestWhileWarming(shard) {
      whileWarming.add(1, { ...base(), ...shardLabel(shard) });
    },
    render: () => registry.render(),
    shutdown: () => registry.shutdown(),
  };
}
