/**
 * The fleet's load per window from the load reports one keyway replica received
 * (docs/load-reports.md): per window and node the last report wins; a window's snapshot sums the
 * nodes' reports into requests per second by shard and by node, quantized so that every replica
 * derives the same numbers from the same reports.
 */
import { KeywayError } from '../../core/errors.js';
import { MAX_HOT_SHARD_HELD_WINDOWS, MAX_REPORTED_SHARDS, windowStart, type LoadReport, type LoadReportSink, type LoadSnapshot, type ShardLoad } from '../../core/load.js';

/** Windows kept (older ones are dropped as reports for newer windows arrive); bounds memory. The policy reads at most this many. */
export const MAX_KEPT_WINDOWS = MAX_HOT_SHARD_HELD_WINDOWS;
/** Distinct nodes per window; a report from one more node is refused (the sink throws). */
export const MAX_NODES_PER_WINDOW = 4_096;
/**
 * A report for a window this many windows (or more) behind the newest window reported is refused;
 * older windows keep only their snapshot. Holding every node's report (up to 256 shards) for all
 * 96 windows took 2.4 GB with 2000 nodes; an agent sends each window just after it closes, and at
 * most its 4 newest closed windows after a stall, so later reports only come from a clock far behind.
 */
export const MAX_REPORT_LATENESS_WINDOWS = 6;
/**
 * Shards per snapshot: the fleet's hottest ones. The same bound holds for the gauges exported to
 * Prometheus, so the local and the Prometheus source give the same snapshots.
 */
export const MAX_SNAPSHOT_SHARDS = MAX_REPORTED_SHARDS;

/** `x` rounded to 3 significant digits: replicas compare quantized loads, not float noise. */
export function quantize(x: number): number {
  if (x === 0 || !Number.isFinite(x)) return 0;
  return Number(x.toPrecision(3));
}

/** Keeps the hottest `max` shards (ties: lower shard first) and sorts them by shard. */
export function hottest(shards: readonly ShardLoad[], max: number): ShardLoad[] {
  const kept = shards.length <= max ? [...shards] : [...shards].sort((a, b) => b.requests - a.requests || a.shard - b.shard).slice(0, max);
  return kept.sort((a, b) => a.shard - b.shard);
}

export interface LoadAggregateOptions {
  /** The load window in force (the topology's `hotShards.windowMs`); undefined before the first map. */
  readonly windowMs: () => number | undefined;
  /** Called after each accepted report, with the report's window start. */
  readonly onReport?: (windowStartMs: number) => void;
}

/** The reports this replica received, by window: the xDS server's load-report sink. */
export class LoadAggregate implements LoadReportSink {
  readonly #opts: LoadAggregateOptions;
  /** window start -> node id -> its last report. */
  readonly #windows = new Map<number, Map<string, LoadReport>>();
  /**
   * window start -> its snapshot, until a report for the window arrives. The policy reads up to 96
   * windows a few times per window; summing every node's report each time cost a second a read
   * with 2000 nodes, for windows that closed long ago and will not change.
   */
  readonly #snapshots = new Map<number, LoadSnapshot>();
  /** The newest window start reported. */
  #newest = -Infinity;
  /** When the shard count last changed (see `clear`); `closed()` reads windows begun after it. */
  #changedAt = -Infinity;

  constructor(opts: LoadAggregateOptions) {
    this.#opts = opts;
  }

  windowMs(): number | undefined {
    return this.#opts.windowMs();
  }

  /** Records a checked report (the xDS server checked it against `windowMs()` and the shard count). */
  reportLoad(report: LoadReport): void {
    const behind = (this.#newest - report.windowStartMs) / report.windowMs;
    if (behind >= MAX_REPORT_LATENESS_WINDOWS) {
      throw new KeywayError(
        'BAD_ARGUMENT',
        `window ${report.windowStartMs} from ${report.nodeId} is ${Math.round(behind)} windows behind the newest window reported (${this.#newest}); ` +
          `reports ${MAX_REPORT_LATENESS_WINDOWS} or more windows late are not recorded (is the node's clock behind?)`,
        { field: 'window_start_unix_ms' },
      );
    }
    let nodes = this.#windows.get(report.windowStartMs);
    if (!nodes) {
      nodes = new Map();
      this.#windows.set(report.windowStartMs, nodes);
      if (report.windowStartMs > this.#newest) {
        this.#newest = report.windowStartMs;
        this.#finalize(report.windowMs);
      }
      this.#dropOld();
    }
    // A reload changed the window length, and this start is a multiple of both: the reports of
    // the other length cover another span (they were summed in at the wrong rate). Reports are
    // checked against the length in force when they arrive, so this one's length wins.
    const other = nodes.values().next().value;
    if (other && other.windowMs !== report.windowMs) nodes.clear();
    if (!nodes.has(report.nodeId) && nodes.size >= MAX_NODES_PER_WINDOW) {
      throw new KeywayError('LIMIT_EXCEEDED', `window ${report.windowStartMs} already holds reports from ${MAX_NODES_PER_WINDOW} nodes (the limit); report from ${report.nodeId} ignored`);
    }
    nodes.set(report.nodeId, report);
    this.#snapshots.delete(report.windowStartMs);
    this.#opts.onReport?.(report.windowStartMs);
  }

  /**
   * Forgets every report: after a change of the shard count they count shard numbers that name
   * other keys, and a source built later (a reload back to `local`) must not read them. Windows
   * begun before the first window end after `changedAtMs` (the window under way mixes both counts)
   * are not read either: kept here, not in the source, so a source rebuilt meanwhile does not read
   * them. That end is taken on the grid of the length in force at each read: on the grid of the
   * length at the change, a reload to a shorter one hid its windows counted under the new count
   * alone until the old length's window ended (up to an hour).
   */
  clear(changedAtMs = -Infinity): void {
    this.#windows.clear();
    this.#snapshots.clear();
    this.#newest = -Infinity;
    this.#changedAt = changedAtMs;
  }

  /** Windows no report may change any more keep their snapshot only, not every node's report. */
  #finalize(windowMs: number): void {
    for (const start of [...this.#windows.keys()]) {
      if ((this.#newest - start) / windowMs < MAX_REPORT_LATENESS_WINDOWS) continue;
      this.snapshot(start);
      this.#windows.delete(start);
    }
  }

  #dropOld(): void {
    const starts = [...new Set([...this.#windows.keys(), ...this.#snapshots.keys()])].sort((a, b) => a - b);
    if (starts.length <= MAX_KEPT_WINDOWS) return;
    for (const s of starts.slice(0, starts.length - MAX_KEPT_WINDOWS)) {
      this.#windows.delete(s);
      this.#snapshots.delete(s);
    }
  }

  /**
   * The snapshot of one window, or undefined when no node reported for it: the same object until
   * a report for the window arrives (callers must not change it).
   */
  snapshot(windowStartMs: number): LoadSnapshot | undefined {
    const known = this.#snapshots.get(windowStartMs);
    if (known) return known;
    const nodes = this.#windows.get(windowStartMs);
    if (!nodes || nodes.size === 0) return undefined;
    const first = nodes.values().next().value as LoadReport;
    const seconds = first.windowMs / 1000;
    const byShard = new Map<number, number>();
    for (const r of nodes.values()) for (const s of r.shards) byShard.set(s.shard, (byShard.get(s.shard) ?? 0) + s.requests);
    const shards = hottest(
      [...byShard].map(([shard, n]) => ({ shard, requests: quantize(n / seconds) })).filter((s) => s.requests > 0),
      MAX_SNAPSHOT_SHARDS,
    );
    const perNode = [...nodes.values()]
      .map((r) => ({ nodeId: r.nodeId, requests: quantize(r.totalRequests / seconds) }))
      .sort((a, b) => (a.nodeId < b.nodeId ? -1 : a.nodeId > b.nodeId ? 1 : 0));
    const snapshot: LoadSnapshot = { windowStartMs, windowMs: first.windowMs, shards, nodes: perNode };
    this.#snapshots.set(windowStartMs, snapshot);
    return snapshot;
  }

  /**
   * Snapshots of the closed windows among the last `historyWindows` before `nowMs` that have
   * reports, oldest first. A window is closed once `nowMs` is past its end.
   */
  closed(nowMs: number, historyWindows: number): LoadSnapshot[] {
    const w = this.#opts.windowMs();
    if (w === undefined) return [];
    const end = windowStart(nowMs, w);
    const readFrom = this.#changedAt === -Infinity ? -Infinity : windowStart(this.#changedAt, w) + w;
    const out: LoadSnapshot[] = [];
    for (let start = end - historyWindows * w; start < end; start += w) {
      if (start < readFrom) continue;
      const s = this.snapshot(start);
      if (s && s.windowMs === w) out.push(s);
    }
    return out;
  }
}
