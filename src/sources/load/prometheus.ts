/**
 * The `prometheus` load snapshot source (docs/load-reports.md "Sharing the snapshot"). Every keyway
 * replica exports the last closed window of the reports it received as bounded gauges
 * (`keyway_load_*`, the hottest shards only); Prometheus scrapes them all; every replica reads the
 * snapshots back with ONE `query_range` whose times are aligned to the window, so replicas that
 * ask in the same window read the same numbers and publish the same map version.
 */
import { LOAD_METRIC_NAMES as LOAD_METRICS, windowStart, type LoadSnapshot, type LoadSnapshotSource, type ShardLoad } from '../../core/load.js';
import { hottest, MAX_SNAPSHOT_SHARDS, quantize } from './aggregate.js';
import { onlyIfRecent } from './local.js';
import { fetchFailureText } from '../../core/fetch-failure.js';

/** Bound on one query_range call. */
export const PROMETHEUS_QUERY_TIMEOUT_MS = 5_000;
/** Bound on the answer's size (series x steps are bounded by the exported gauges; this guards a wrong URL). */
export const PROMETHEUS_MAX_RESPONSE_BYTES = 16 * 1024 * 1024;

/**
 * The gauge every replica exports with its shard count S (`keyway_shardmap_shards`, named in
 * src/telemetry/metric-names.ts, which this stage may not import). The read takes its lowest and
 * highest value around each window: a window counted while a replica served another S holds the
 * load of shard numbers that name other keys now (docs/load-reports.md "A change of shards").
 */
export const SHARD_COUNT_METRIC = 'keyway_shardmap_shards';

/**
 * Windows (of the length in force) before a step that the shard count's range covers: a step names
 * the window counted one to two windows before it (the last closed window when it was scraped), so
 * three cover that window whole, the one before it, and the export.
 */
export const SHARD_COUNT_LOOKBACK_WINDOWS = 3;

export interface PrometheusLoadSourceOptions {
  /** Prometheus base URL, e.g. http://prometheus:9090. */
  readonly url: string;
  /** How far behind now the newest window read ends: scrape interval plus a margin (docs/load-reports.md). */
  readonly lagMs: number;
  /** The load window in force; undefined before the first map (latest() then reads nothing). */
  readonly windowMs: () => number | undefined;
  readonly now?: () => number;
  readonly fetch?: typeof fetch;
  /** Bound on one query_range call, answer included; default PROMETHEUS_QUERY_TIMEOUT_MS (tests shorten it). */
  readonly timeoutMs?: number;
  /** Failed queries (the policy keeps its last decision's inputs: latest() rejects). */
  readonly onError?: (err: Error) => void;
  /** A read that succeeded but skipped windows (not yet ended by keyway's clock); default onError. */
  readonly onWarning?: (err: Error) => void;
  /**
   * The shard count S in force: windows counted while some replica exported another S are
   * skipped. Undefined (or no `keyway_shardmap_shards` in Prometheus): every window is kept.
   */
  readonly shardCount?: () => number | undefined;
}

/** The one line a read logs for the windows it skipped as lying in the future: the furthest, and how many. */
function futureWarning(url: string, future: readonly FutureWindow[], notAfterMs: number, windowMs: number): Error {
  const worst = future.reduce((a, b) => (b.aheadMs > a.aheadMs ? b : a));
  const iso = (ms: number): string => (Number.isFinite(ms) && Math.abs(ms) < 8.64e15 ? new Date(ms).toISOString() : String(ms));
  return new Error(
    `load snapshots from Prometheus ${url}: skipped ${future.length} window(s) that had not ended by keyway's clock ` +
      `(${iso(notAfterMs)}, now minus lagMs, aligned to the window); the furthest, window ${iso(worst.windowStartMs)} of ${windowMs} ms read at step ${iso(worst.stepMs)}, ` +
      `ends ${worst.aheadMs} ms after it: the clocks of keyway, its replicas and Prometheus differ (check NTP), or Prometheus answered with data from the future`,
  );
}

/**
 * The max over replicas of `metric` (a keyway load gauge labelled `label`), by the value keyway
 * exported. Prometheus keeps a target label over a scraped label of the same name and renames the
 * scraped one `exported_<label>` (honor_labels: false, the default); Kubernetes scrape configs
 * often give each target a `node` label (the pod's Kubernetes node), and grouped by it every cache
 * node's load collapsed into one figure per Kubernetes node running a replica. The renamed series
 * are aggregated before the label is copied (the copy costs per series and step: on every series
 * it doubled the query's time) and by `exported_<label>` alone, so no two copies share labels.
 */
function byExportedLabel(metric: string, label: 'shard' | 'node', range: string): string {
  const renamed = `label_replace(max by (exported_${label}) (last_over_time(${metric}{exported_${label}!=""}[${range}])), "${label}", "$1", "exported_${label}", "(.*)")`;
  const plain = `max by (${label}) (last_over_time(${metric}{exported_${label}=""}[${range}]))`;
  return `max by (${label}) (${renamed} or ${plain})`;
}

/**
 * The PromQL of one read: the newest value in each step's window of every exported gauge, the max
 * over replicas (by the label keyway exported: {@link byExportedLabel}); and the lowest and highest
 * shard count exported over the last SHARD_COUNT_LOOKBACK_WINDOWS windows by the replicas that
 * exported a load window then (`and` matches a target's two gauges): a keyway of another
 * deployment scraped by the same Prometheus, whose nodes send no reports, does not hold this
 * one's windows back with its S.
 */
export function loadQuery(windowMs: number): string {
  const range = `${Math.round(windowMs)}ms`;
  const lookback = `${Math.round(windowMs) * SHARD_COUNT_LOOKBACK_WINDOWS}ms`;
  return [
    byExportedLabel(LOAD_METRICS.shard, 'shard', range),
    byExportedLabel(LOAD_METRICS.node, 'node', range),
    `label_replace(max(last_over_time(${LOAD_METRICS.window}[${range}])), "load", "window", "", "")`,
    `label_replace(min(min_over_time(${SHARD_COUNT_METRIC}[${lookback}]) and last_over_time(${LOAD_METRICS.window}[${lookback}])), "load", "shards_min", "", "")`,
    `label_replace(max(max_over_time(${SHARD_COUNT_METRIC}[${lookback}]) and last_over_time(${LOAD_METRICS.window}[${lookback}])), "load", "shards_max", "", "")`,
  ].join(' or ');
}

/** A shard label as keyway exports it: a decimal number without sign or leading zero. */
const SHARD_LABEL = /^(?:0|[1-9]\d{0,15})$/;

/**
 * The body as text, refused as soon as it passes `max` bytes (by Content-Length or while reading),
 * so a wrong URL that streams without end costs at most `max` bytes of memory.
 */
async function boundedText(res: Response, max: number): Promise<string> {
  const over = (): Error => new Error(`answer is over the ${max}-byte limit`);
  const declared = Number(res.headers.get('content-length') ?? NaN);
  if (declared > max) {
    await res.body?.cancel().catch(() => undefined);
    throw over();
  }
  if (!res.body) return '';
  const reader = res.body.getReader();
  const chunks: Uint8Array[] = [];
  let bytes = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    bytes += value.byteLength;
    if (bytes > max) {
      await reader.cancel().catch(() => undefined);
      throw over();
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks, bytes).toString('utf8');
}

/** The `errorType: error` of a Prometheus error answer, else the start of the body. */
function prometheusError(text: string): string {
  try {
    const body = JSON.parse(text) as { errorType?: unknown; error?: unknown };
    if (typeof body.error === 'string') return typeof body.errorType === 'string' ? `${body.errorType}: ${body.error}` : body.error;
  } catch {
    // not JSON: a proxy's error page
  }
  return text.slice(0, 200);
}

interface MatrixSeries {
  readonly metric: Record<string, string>;
  readonly values: readonly [number, string][];
}

/** A window the answer named that had not ended by keyway's clock: skipped (snapshotsFromMatrix). */
export interface FutureWindow {
  readonly windowStartMs: number;
  /** The step (query time, ms) at which Prometheus gave it. */
  readonly stepMs: number;
  /** How far its end lies past `notAfterMs`. */
  readonly aheadMs: number;
}

/**
 * Turns a query_range matrix of {@link loadQuery} into snapshots, oldest first: one per window the
 * window gauge names (a window read at two steps counts once, at its first step); values quantized.
 * With `notAfterMs`, a window ending after it (it has not ended yet by keyway's clock: clocks out of
 * step, or a careless Prometheus) is skipped and handed to `onFuture`: its figures would be partial,
 * and as the newest window it would anchor the policy's replay and pass for recent load until then.
 * With `shardCount`, a window whose step saw a replica export another shard count is skipped and
 * handed to `onOtherShardCount`: its shard numbers may name other keys under the S in force. A
 * step with no shard count (a Prometheus that does not keep the gauge) keeps its window. Each
 * snapshot keeps its MAX_SNAPSHOT_SHARDS hottest shards (ties: lower shard first), as the local source's do.
 */
export function snapshotsFromMatrix(
  series: readonly MatrixSeries[],
  windowMs: number,
  bounds?: {
    readonly notAfterMs: number;
    readonly onFuture?: (w: FutureWindow) => void;
    readonly shardCount?: number;
    readonly onOtherShardCount?: (w: OtherShardCountWindow) => void;
  },
): LoadSnapshot[] {
  const windowAt = new Map<number, number>();
  const shardCountsAt = new Map<number, { min?: number; max?: number }>();
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
      else if (s.metric.load === 'shards_min' || s.metric.load === 'shards_max') {
        const counts = shardCountsAt.get(t) ?? {};
        counts[s.metric.load === 'shards_min' ? 'min' : 'max'] = v;
        shardCountsAt.set(t, counts);
      } else if (s.metric.shard !== undefined) {
        // Only the decimal form keyway exports: Number() would also take "0x10", "1e3" or "07"
        // (a second series for shard 7, counted twice).
        const shard = SHARD_LABEL.test(s.metric.shard) ? Number(s.metric.shard) : NaN;
        if (Number.isSafeInteger(shard) && quantize(v) > 0) push(shardsAt, t, { shard, requests: quantize(v) });
      } else if (s.metric.node !== undefined && v >= 0) push(nodesAt, t, { nodeId: s.metric.node, requests: quantize(v) });
    }
  }
  const out: LoadSnapshot[] = [];
  const seen = new Set<number>();
  for (const t of [...windowAt.keys()].sort((a, b) => a - b)) {
    const start = windowAt.get(t)!;
    if (seen.has(start) || start % windowMs !== 0) continue;
    if (bounds && start + windowMs > bounds.notAfterMs) {
      bounds.onFuture?.({ windowStartMs: start, stepMs: t * 1000, aheadMs: start + windowMs - bounds.notAfterMs });
      continue;
    }
    seen.add(start);
    const counts = bounds?.shardCount === undefined ? undefined : shardCountsAt.get(t);
    if (counts && (counts.min !== bounds!.shardCount || counts.max !== bounds!.shardCount)) {
      bounds!.onOtherShardCount?.({ windowStartMs: start, minShards: counts.min ?? counts.max!, maxShards: counts.max ?? counts.min! });
      continue;
    }
    out.push({
      windowStartMs: start,
      windowMs,
      // The hottest MAX_SNAPSHOT_SHARDS, as a local snapshot holds: each replica exports its own
      // hottest, and the answer holds their union (and what else the URL's Prometheus gives). The
      // policy runs on the event loop: 16384 shards in each of 77 windows held it for 13 s, 256
      // for 0.3 s.
      shards: hottest(shardsAt.get(t) ?? [], MAX_SNAPSHOT_SHARDS),
      nodes: (nodesAt.get(t) ?? []).sort((a, b) => (a.nodeId < b.nodeId ? -1 : a.nodeId > b.nodeId ? 1 : 0)),
    });
  }
  return out.sort((a, b) => a.windowStartMs - b.windowStartMs);
}

/** A window skipped for the shard counts replicas exported around it (snapshotsFromMatrix). */
export interface OtherShardCountWindow {
  readonly windowStartMs: number;
  readonly minShards: number;
  readonly maxShards: number;
}

/** The one line a read logs for the recent windows it skipped for another shard count. */
function shardCountWarning(url: string, skipped: readonly OtherShardCountWindow[], shardCount: number): Error {
  const seen = [...new Set(skipped.flatMap((w) => [w.minShards, w.maxShards]))].sort((a, b) => a - b);
  return new Error(
    `load snapshots from Prometheus ${url}: skipped ${skipped.length} recent window(s) counted while a keyway replica served another shard count ` +
      `(keyway_shardmap_shards ${seen.join(', ')}; ${shardCount} in force): the policy uses the windows counted under ${shardCount} alone ` +
      `(plain rendezvous until one is read); if this lasts, some keyway replica serves another \`shards:\``,
  );
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
    const timeoutMs = this.#opts.timeoutMs ?? PROMETHEUS_QUERY_TIMEOUT_MS;
    const signal = AbortSignal.timeout(timeoutMs);
    try {
      const res = await this.#fetch(url, { signal });
      const text = await boundedText(res, PROMETHEUS_MAX_RESPONSE_BYTES);
      if (!res.ok) throw new Error(`HTTP ${res.status}: ${prometheusError(text)}`);
      const body = JSON.parse(text) as { status?: string; data?: { resultType?: string; result?: MatrixSeries[] } } | null;
      if (body?.status !== 'success' || body.data?.resultType !== 'matrix' || !Array.isArray(body.data.result)) {
        throw new Error(`unexpected answer: ${text.slice(0, 200)}`);
      }
      // Only windows ended by keyway's clock at this read (aligned like `end`, so replicas reading
      // in the same window draw the same line).
      const notAfterMs = end + this.#opts.lagMs;
      const future: FutureWindow[] = [];
      const otherCount: OtherShardCountWindow[] = [];
      const shardCount = this.#opts.shardCount?.();
      const snapshots = snapshotsFromMatrix(body.data.result, w, {
        notAfterMs,
        onFuture: (f) => future.push(f),
        ...(shardCount !== undefined ? { shardCount, onOtherShardCount: (o: OtherShardCountWindow) => otherCount.push(o) } : {}),
      });
      if (future.length > 0) this.#warn(futureWarning(this.#opts.url, future, notAfterMs, w));
      // Said only while it holds the policy back: older windows skipped after a change of S are expected.
      const recent = otherCount.filter((o) => o.windowStartMs >= end + w - (recentWindows ?? windows) * w);
      if (recent.length > 0 && shardCount !== undefined) this.#warn(shardCountWarning(this.#opts.url, recent, shardCount));
      // The last step read is the window starting at `end`: the span ends one window later.
      return onlyIfRecent(snapshots, end + w, w, recentWindows);
    } catch (err) {
      const why = signal.aborted ? `no complete answer within ${timeoutMs} ms` : fetchFailureText(err);
      const e = new Error(`load snapshots from Prometheus ${this.#opts.url}: ${why}`);
      this.#opts.onError?.(e);
      throw e;
    }
  }

  onChange(cb: () => void): () => void {
    this.#listeners.add(cb);
    return () => this.#listeners.delete(cb);
  }

  #warn(err: Error): void {
    (this.#opts.onWarning ?? this.#opts.onError)?.(err);
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
