/**
 * The `prometheus` load snapshot source (docs/load-reports.md "Sharing the snapshot"). Every keyway
 * replica exports the last closed window of the reports it received as bounded gauges
 * (`keyway_load_*`, the hottest shards only); Prometheus scrapes them all; every replica reads the
 * snapshots back with ONE `query_range` whose times are aligned to the window, so replicas that
 * ask in the same window read the same numbers and publish the same map version.
 */
import { LOAD_METRIC_NAMES as LOAD_METRICS, windowStart, type LoadSnapshot, type LoadSnapshotSource, type ShardLoad } from '../../core/load.js';
import { quantize } from './aggregate.js';
import { onlyIfRecent } from './local.js';

/** Bound on one query_range call. */
export const PROMETHEUS_QUERY_TIMEOUT_MS = 5_000;
/** Bound on the answer's size (series x steps are bounded by the exported gauges; this guards a wrong URL). */
export const PROMETHEUS_MAX_RESPONSE_BYTES = 16 * 1024 * 1024;

export interface PrometheusLoadSourceOptions {
  /** Prometheus base URL, e.g. http://prometheus:9090. */
  readonly url: string;
  /** How far behind now the newest window read ends: scrape interval plus a margin (docs/load-reports.md). */
  readonly lagMs: number;
  /** The load window in force; undefined before the first map (latest() then reads nothing). */
  readonly windowMs: () => number | undefined;
  readonly now?: () => number;
  readonly fetch?: typeof fetch;
  /** Failed queries (the policy keeps its last decision's inputs: latest() rejects). */
  readonly onError?: (err: Error) => void;
}

/** The PromQL of one read: the newest value in each step's window of every exported gauge, the max over replicas. */
export function loadQuery(windowMs: number): string {
  const range = `${Math.round(windowMs)}ms`;
  return [
    `max by (shard) (last_over_time(${LOAD_METRICS.shard}[${range}]))`,
    `max by (node) (last_over_time(${LOAD_METRICS.node}[${range}]))`,
    `label_replace(max(last_over_time(${LOAD_METRICS.window}[${range}])), "load", "window", "", "")`,
  ].join(' or ');
}

interface MatrixSeries {
  readonly metric: Record<string, string>;
  readonly values: readonly [number, string][];
}

/**
 * Turns a query_range matrix of {@link loadQuery} into snapshots, oldest first: one per window the
 * window gauge names (a window read at two steps counts once, at its first step); values quantized.
 */
export function snapshotsFromMatrix(series: readonly MatrixSeries[], windowMs: number): LoadSnapshot[] {
  const windowAt = new Map<number, number>();
  const shardsAt = new Map<number, ShardLoad[]>();
  const nodesAt = new Map<number, { nodeId: string; requests: number }[]>();
  const push = <T>(m: Map<number, T[]>, t: number, v: T): void => {
    const list = m.get(t);
    if (list) list.push(v);
    else m.set(t, [v]);
  };
  for (const s of series) {
    for (const [t, raw] of s.values) {
      const v = Number(raw);
      if (!Number.isFinite(v)) continue;
      if (s.metric.load === 'window') windowAt.set(t, Math.round(v * 1000));
      else if (s.metric.shard !== undefined) {
        const shard = Number(s.metric.shard);
        if (Number.isSafeInteger(shard) && shard >= 0 && quantize(v) > 0) push(shardsAt, t, { shard, requests: quantize(v) });
      } else if (s.metric.node !== undefined) push(nodesAt, t, { nodeId: s.metric.node, requests: quantize(v) });
    }
  }
  const out: LoadSnapshot[] = [];
  const seen = new Set<number>();
  for (const t of [...windowAt.keys()].sort((a, b) => a - b)) {
    const start = windowAt.get(t)!;
    if (seen.has(start) || start % windowMs !== 0) continue;
    seen.add(start);
    out.push({
      windowStartMs: start,
      windowMs,
      shards: (shardsAt.get(t) ?? []).sort((a, b) => a.shard - b.shard),
      nodes: (nodesAt.get(t) ?? []).sort((a, b) => (a.nodeId < b.nodeId ? -1 : a.nodeId > b.nodeId ? 1 : 0)),
    });
  }
  return out.sort((a, b) => a.windowStartMs - b.windowStartMs);
}

/** The Prometheus source: `latest(h)` is one query_range; `onChange` fires once per window, lagMs after its end. */
export class PrometheusLoadSource implements LoadSnapshotSource {
  readonly #opts: PrometheusLoadSourceOptions;
  readonly #now: () => number;
  readonly #fetch: typeof fetch;
  readonly #listeners = new Set<() => void>();
  #tick: NodeJS.Timeout | undefined;
  #closed = false;

  constructor(opts: PrometheusLoadSourceOptions) {
    if (!/^https?:\/\//.test(opts.url)) throw new TypeError(`hotShards.snapshot.url: ${JSON.stringify(opts.url)} is not an http(s) URL`);
    this.#opts = opts;
    this.#now = opts.now ?? Date.now;
    this.#fetch = opts.fetch ?? fetch;
    this.#schedule();
  }

  /**
   * One query_range over the last `historyWindows` steps (step = the window) ending at
   * floor((now - lagMs) / window) * window. Rejects when Prometheus does not answer well.
   */
  async latest(windows: number, recentWindows?: number): Promise<readonly LoadSnapshot[]> {
    const w = this.#opts.windowMs();
    if (w === undefined || windows < 1) return [];
    const end = windowStart(this.#now() - this.#opts.lagMs, w);
    const start = end - (windows - 1) * w;
    const q = new URLSearchParams({ query: loadQuery(w), start: String(start / 1000), end: String(end / 1000), step: String(w / 1000) });
    const url = `${this.#opts.url.replace(/\/+$/, '')}/api/v1/query_range?${q}`;
    try {
      const res = await this.#fetch(url, { signal: AbortSignal.timeout(PROMETHEUS_QUERY_TIMEOUT_MS) });
      const text = await res.text();
      if (text.length > PROMETHEUS_MAX_RESPONSE_BYTES) throw new Error(`answer of ${text.length} bytes is over the ${PROMETHEUS_MAX_RESPONSE_BYTES}-byte limit`);
      if (!res.ok) throw new Error(`HTTP ${res.status}: ${text.slice(0, 200)}`);
      const body = JSON.parse(text) as { status?: string; data?: { resultType?: string; result?: MatrixSeries[] } };
      if (body.status !== 'success' || body.data?.resultType !== 'matrix' || !Array.isArray(body.data.result)) {
        throw new Error(`unexpected answer: ${text.slice(0, 200)}`);
      }
      // The last step read is the window starting at `end`: the span ends one window later.
      return onlyIfRecent(snapshotsFromMatrix(body.data.result, w), end + w, w, recentWindows);
    } catch (err) {
      const e = new Error(`load snapshots from Prometheus ${this.#opts.url}: ${err instanceof Error ? err.message : String(err)}`);
      this.#opts.onError?.(e);
      throw e;
    }
  }

  onChange(cb: () => void): () => void {
    this.#listeners.add(cb);
    return () => this.#listeners.delete(cb);
  }

  close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#tick);
    this.#listeners.clear();
    return Promise.resolve();
  }

  /** Wakes when the next aligned end becomes readable: a window boundary plus lagMs. */
  #schedule(): void {
    if (this.#closed) return;
    const w = this.#opts.windowMs() ?? 1_000;
    const now = this.#now();
    const at = windowStart(now - this.#opts.lagMs, w) + w + this.#opts.lagMs;
    this.#tick = setTimeout(() => {
      for (const cb of [...this.#listeners]) cb();
      this.#schedule();
    }, Math.max(1, at - now));
    this.#tick.unref();
  }
}
