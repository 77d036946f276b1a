/**
 * The `prometheus` load snapshot source (docs/load-reports.md "Sharing the snapshot"). Every keyway
 * replica exports the last closed window of the reports it received as bounded gauges
 * (`keyway_load_*`, the hottest shards only); Prometheus scrapes them all; every replica reads the
 * snapshots back with `query_range` at times aligned to the window, so replicas that ask in the
 * same window read the same numbers and publish the same map version. Steps already read are kept
 * (they do not change once past lagMs): a read asks only for the new ones.
 */
import { LOAD_METRIC_NAMES as LOAD_METRICS, windowStart, type LoadSnapshot, type LoadSnapshotSource, type ShardLoad } from '../../core/load.js';
import { hottest, MAX_SNAPSHOT_SHARDS, quantize } from './aggregate.js';
import { onlyIfRecent } from './local.js';
import { fetchFailureText } from '../../core/fetch-failure.js';

/**
 * Bound on one query_range call, answer included. A read asks for at most
 * PROMETHEUS_MAX_STEPS_PER_QUERY steps per call, so the bound holds per slice of the span, not for
 * the whole span a first read covers.
 */
export const PROMETHEUS_QUERY_TIMEOUT_MS = 5_000;
/**
 * Steps (windows) asked for in one query_range call. A first read covers every window the policy
 * reads (77 with the defaults): asked for at once, that took 5.2 to 9.5 s with 4096 nodes and 4
 * replicas on a busy 2-core machine, past the timeout; 8 steps took 0.4 to 0.6 s. Each step is
 * evaluated on its own, so slices answer what one query over the span answers.
 */
export const PROMETHEUS_MAX_STEPS_PER_QUERY = 8;

/**
 * Held steps a read asks for again, the newest ones, to check that they still stand. Three, not
 * one: a step is then asked for on the three reads after its first, so an answer that goes back
 * to one given before (servers taking turns behind one URL) is seen: when the servers differ on a
 * step, half the time with a server drawn at random for each read (with two checks, a quarter).
 */
export const PROMETHEUS_CHECKED_STEPS = 3;
/** Earlier answers kept per step to see an answer go back to one of them (a pair has two). */
const MAX_REPLACED_ANSWERS = 2;
/**
 * Held steps a read asks for again once several Prometheus servers answer at the URL: with the
 * new step, one query of PROMETHEUS_MAX_STEPS_PER_QUERY steps (0.4 to 0.6 s at 4096 nodes and 4
 * replicas, about what the few steps of a read take otherwise). Each step is then asked for on 8 reads, so a replica behind a balancer
 * that picks a server at random hears both servers of a pair on each step but 1 in 128.
 */
export const PROMETHEUS_MERGED_CHECKED_STEPS = PROMETHEUS_MAX_STEPS_PER_QUERY - 1;

/**
 * How far from each end of a window's export the read looks for its scrapes: min(1 s, window / 5).
 * A replica exports a window from its end to the next window's end by its own clock, and the
 * nodes' reports for it still arrive for up to min(500 ms, window / 8) after its end (the agent's
 * send delay); a scrape stamped within this of either boundary may hold the other window, or a
 * window with some reports missing, when clocks differ or a scrape is answered late. A fifth, not
 * a quarter: the range left, W - 2m, must hold a scrape of every replica scraped every W / 2 (the
 * documented slowest), and at a quarter it was exactly W / 2 long, so scrapes a few ms off their
 * schedule missed it (a 1 s window scraped every 500 ms, one scrape 3 ms early and the next 3 ms
 * late: no window read, Prometheus 2.42); a fifth leaves W / 10 of slack.
 */
export function loadEdgeMarginMs(windowMs: number): number {
  return Math.floor(Math.min(1_000, windowMs / 5));
}
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
  /** Bound on each query_range call (at most PROMETHEUS_MAX_STEPS_PER_QUERY steps), answer included; default PROMETHEUS_QUERY_TIMEOUT_MS (tests shorten it). */
  readonly timeoutMs?: number;
  /** Failed queries (the policy keeps its last decision's inputs: latest() rejects). */
  readonly onError?: (err: Error) => void;
  /** A read that succeeded but skipped windows (not yet ended by keyway's clock); default onError. */
  readonly onWarning?: (err: Error) => void;
  /**
   * Said once when the answers show several Prometheus servers behind the URL, without
   * deduplication (a held step's answer went back to one it gave before); default onWarning.
   */
  readonly onSeveralServers?: (err: Error) => void;
  /**
   * The shard count S in force: windows counted while some replica exported another S are
   * skipped. Undefined (or no `keyway_shardmap_shards` in Prometheus): every window is kept.
   */
  readonly shardCount?: () => number | undefined;
}

/** Two answers of one step alike (the check of the held steps in `latest`). */
function sameStep(a: LoadStep, b: LoadStep): boolean {
  if (a === b) return true;
  if (a.windowStartMs !== b.windowStartMs || a.minShards !== b.minShards || a.maxShards !== b.maxShards) return false;
  if (a.shards.length !== b.shards.length || a.nodes.length !== b.nodes.length) return false;
  return a.shards.every((s, i) => s.shard === b.shards[i]!.shard && s.requests === b.shards[i]!.requests) && a.nodes.every((n, i) => n.nodeId === b.nodes[i]!.nodeId && n.requests === b.nodes[i]!.requests);
}

/**
 * Two answers of one step as one: per shard and node the higher figure (the max over servers, as
 * the query takes the max over keyway replicas: a server that missed a scrape lowers nothing), the
 * widest shard-count range, the hottest MAX_SNAPSHOT_SHARDS shards. The same whatever the order
 * of the answers, so replicas that heard the same answers hold the same step.
 */
export function mergeSteps(a: LoadStep, b: LoadStep): LoadStep {
  const byShard = new Map<number, number>();
  for (const s of [...a.shards, ...b.shards]) byShard.set(s.shard, Math.max(byShard.get(s.shard) ?? 0, s.requests));
  const byNode = new Map<string, number>();
  for (const n of [...a.nodes, ...b.nodes]) byNode.set(n.nodeId, Math.max(byNode.get(n.nodeId) ?? 0, n.requests));
  const bound = (f: (...v: number[]) => number, x: number | undefined, y: number | undefined): number | undefined => (x === undefined ? y : y === undefined ? x : f(x, y));
  const windowStartMs = a.windowStartMs ?? b.windowStartMs;
  const minShards = bound(Math.min, a.minShards, b.minShards);
  const maxShards = bound(Math.max, a.maxShards, b.maxShards);
  return {
    ...(windowStartMs !== undefined ? { windowStartMs } : {}),
    ...(minShards !== undefined ? { minShards } : {}),
    ...(maxShards !== undefined ? { maxShards } : {}),
    shards: hottest([...byShard].map(([shard, requests]) => ({ shard, requests })), MAX_SNAPSHOT_SHARDS),
    nodes: [...byNode].map(([nodeId, requests]) => ({ nodeId, requests })).sort((x, y) => (x.nodeId < y.nodeId ? -1 : x.nodeId > y.nodeId ? 1 : 0)),
  };
}

/** The one line a read logs when a held step's answer went back to one it gave before. */
function severalServersWarning(url: string, stepMs: number, windowStartMs: number | undefined): Error {
  const iso = (ms: number): string => new Date(ms).toISOString();
  return new Error(
    `load snapshots from Prometheus ${url}: the answer for the step at ${iso(stepMs)}${windowStartMs !== undefined ? ` (window ${iso(windowStartMs)})` : ''} went back to one given before it changed: ` +
      `several Prometheus servers answer at this URL without deduplication (an HA pair behind a Service or a load balancer), and keyway replicas may read different snapshots. ` +
      `From now on each window is the max of the answers this replica got for it (the span read once more now and merged, then the newest ${PROMETHEUS_MERGED_CHECKED_STEPS + 1} windows asked for on every read) instead of the whole span being read again; ` +
      `point hotShards.snapshot.url at one server of the pair, or at a querier that deduplicates the pair`,
  );
}

/**
 * `steps` (ascending, on a grid of `w`) as runs of consecutive steps, each at most `max` long:
 * one query_range call each.
 */
function stepRuns(steps: readonly number[], w: number, max: number): [number, number][] {
  const runs: [number, number][] = [];
  for (const t of steps) {
    const last = runs[runs.length - 1];
    if (last && t === last[1] + w && (t - last[0]) / w < max) last[1] = t;
    else runs.push([t, t]);
  }
  return runs;
}

/**
 * A query_range `step` (Prometheus HTTP API) of exactly `w` ms. Prometheus reads a number as float
 * seconds and truncates it to whole ns, then to whole ms: `1.001` became 1000999999 ns, a step of
 * 1000 ms, so every step after a slice's first fell off the window grid and its window was lost
 * (windows of 1001, 1003, ... 2002 ms: 70071 of the lengths allowed). Whole seconds stay as they
 * were; the rest are sent as a duration in ms, which it reads exactly.
 */
function promStep(w: number): string {
  return w % 1000 === 0 ? String(w / 1000) : `${w}ms`;
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
 * exported, over the replicas in `ok` (the targets whose scrapes in the range all named the window
 * the step reads: {@link loadQuery}). Prometheus keeps a target label over a scraped label of the
 * same name and renames the scraped one `exported_<label>` (honor_labels: false, the default);
 * Kubernetes scrape configs often give each target a `node` label (the pod's Kubernetes node), and
 * grouped by it every cache node's load collapsed into one figure per Kubernetes node running a
 * replica. The renamed series are aggregated before the label is copied (the copy costs per series
 * and step: on every series it doubled the query's time) and by `exported_<label>` alone, so no two
 * copies share labels. `ok` is matched per target, ignoring the load label keyway exported alone.
 */
function byExportedLabel(metric: string, label: 'shard' | 'node', selector: string, ok: string): string {
  // Each form ignores only the label keyway exported: a target label of the same name is matched
  // like any other target label. Ignoring it too, replicas told apart by it alone (no `instance`)
  // matched each other's `ok`, and a replica that named another window was read into this one.
  const renamed = `label_replace(max by (exported_${label}) (last_over_time(${metric}{exported_${label}!=""}${selector}) and ignoring(exported_${label}) (${ok})), "${label}", "$1", "exported_${label}", "(.*)")`;
  const plain = `max by (${label}) (last_over_time(${metric}{exported_${label}=""}${selector}) and ignoring(${label}) (${ok}))`;
  return `max by (${label}) (${renamed} or ${plain})`;
}

/**
 * The PromQL of one read. The step at time t reads the window that starts at t - 2 x window: each
 * replica exports it from t - window to t by its clock. It takes, per replica, the newest value of
 * every exported gauge scraped between t - window + margin and t - margin
 * ({@link loadEdgeMarginMs}), from the replicas whose every scrape there names that window, and
 * the max over them (by the label keyway exported: {@link byExportedLabel}). Scrapes near a window
 * boundary (clocks a little apart, a scrape answered late, reports still arriving) are not read,
 * and a replica whose scrapes name another window is left out rather than mixed in: read from the
 * whole window up to t, a replica whose clock ran a few ms ahead gave its next window's partial
 * figures under that window's name, max'd with the other replicas' figures of the window before.
 * Each step is evaluated on its own, so a step's answer does not depend on the span asked for.
 * Also the lowest and highest shard count exported over the last SHARD_COUNT_LOOKBACK_WINDOWS
 * windows by the replicas that exported a load window then (`and` matches a target's two gauges):
 * a keyway of another deployment scraped by the same Prometheus, whose nodes send no reports, does
 * not hold this one's windows back with its S.
 */
export function loadQuery(windowMs: number): string {
  const w = Math.round(windowMs);
  const margin = loadEdgeMarginMs(w);
  const selector = `[${w - 2 * margin}ms] offset ${margin}ms`;
  const lookback = `${w * SHARD_COUNT_LOOKBACK_WINDOWS}ms`;
  // Window starts are whole ms; half a ms of tolerance absorbs float rounding of seconds.
  const names = (fn: string): string => `abs(${fn}(${LOAD_METRICS.window}${selector}) - (time() - ${(2 * w) / 1000})) < 0.0005`;
  // The export before, read the same way one window earlier: a replica that named anything but the
  // window before runs windows of another length (a rolling change of windowMs), whose start can
  // fall on this one's (every 25th window of 10.4 s starts where one of 10 s does, and a replica
  // still on 10 s names it for all of the range above: its figures were read as this window's).
  // No export then (a replica just started, or no reports) does not count against it, nor does
  // the window this step reads: a scrape answered more than the margin late (an event loop stalled
  // at the window's end) names it there, and already left the replica out of the window before;
  // counted as another length, it left the replica out of this one too. A replica of another
  // length that names this step's window in the range above names neither there.
  const before = `[${w - 2 * margin}ms] offset ${w + margin}ms`;
  const other = (fn: string): string =>
    `(abs(${fn}(${LOAD_METRICS.window}${before}) - (time() - ${(3 * w) / 1000})) >= 0.0005 and abs(${fn}(${LOAD_METRICS.window}${before}) - (time() - ${(2 * w) / 1000})) >= 0.0005)`;
  const ok = `((${names('min_over_time')}) and (${names('max_over_time')}) unless (${other('min_over_time')} or ${other('max_over_time')}))`;
  return [
    byExportedLabel(LOAD_METRICS.shard, 'shard', selector, ok),
    byExportedLabel(LOAD_METRICS.node, 'node', selector, ok),
    `label_replace(max(last_over_time(${LOAD_METRICS.window}${selector}) and (${ok})), "load", "window", "", "")`,
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
 * What one step of {@link loadQuery} gave: the window its gauge named (ms), the shard counts, the
 * hottest MAX_SNAPSHOT_SHARDS shards (ties: lower shard first; sorted by shard) and the nodes
 * (sorted by id). A function of Prometheus's data up to the step alone, so a read keeps it.
 */
export interface LoadStep {
  readonly windowStartMs?: number;
  readonly minShards?: number;
  readonly maxShards?: number;
  readonly shards: readonly ShardLoad[];
  readonly nodes: readonly { readonly nodeId: string; readonly requests: number }[];
}

/** A step the answer gave nothing for. */
const EMPTY_STEP: LoadStep = { shards: [], nodes: [] };

/**
 * A query_range matrix of {@link loadQuery} by step (ms); values quantized. Only the decimal shard
 * labels keyway exports are taken, node values of at least 0, finite values.
 */
export function stepsFromMatrix(series: readonly MatrixSeries[]): Map<number, LoadStep> {
  const raw = new Map<number, { windowStartMs?: number; minShards?: number; maxShards?: number; shards: ShardLoad[]; nodes: { nodeId: string; requests: number }[] }>();
  const at = (t: number) => {
    const ms = Math.round(t * 1000);
    let step = raw.get(ms);
    if (!step) raw.set(ms, (step = { shards: [], nodes: [] }));
    return step;
  };
  for (const s of series) {
    for (const [t, text] of s.values) {
      const v = Number(text);
      if (!Number.isFinite(v)) continue;
      if (s.metric.load === 'window') at(t).windowStartMs = Math.round(v * 1000);
      else if (s.metric.load === 'shards_min') at(t).minShards = v;
      else if (s.metric.load === 'shards_max') at(t).maxShards = v;
      else if (s.metric.shard !== undefined) {
        // Only the decimal form keyway exports: Number() would also take "0x10", "1e3" or "07"
        // (a second series for shard 7, counted twice).
        const shard = SHARD_LABEL.test(s.metric.shard) ? Number(s.metric.shard) : NaN;
        if (Number.isSafeInteger(shard) && quantize(v) > 0) at(t).shards.push({ shard, requests: quantize(v) });
      } else if (s.metric.node !== undefined && v >= 0) at(t).nodes.push({ nodeId: s.metric.node, requests: quantize(v) });
    }
  }
  const out = new Map<number, LoadStep>();
  for (const [t, step] of raw) {
    out.set(t, {
      ...step,
      // The hottest MAX_SNAPSHOT_SHARDS, as a local snapshot holds: each replica exports its own
      // hottest, and the answer holds their union (and what else the URL's Prometheus gives). The
      // policy runs on the event loop: 16384 shards in each of 77 windows held it for 13 s, 256
      // for 0.3 s.
      shards: hottest(step.shards, MAX_SNAPSHOT_SHARDS),
      nodes: step.nodes.sort((x, y) => (x.nodeId < y.nodeId ? -1 : x.nodeId > y.nodeId ? 1 : 0)),
    });
  }
  return out;
}

/**
 * The snapshot a step gives, made once per step: a held step gives the same object at every read
 * (callers must not change it), as the local source's snapshots are, so no read copies thousands
 * of nodes per window it already gave.
 */
const snapshotsOfSteps = new WeakMap<LoadStep, LoadSnapshot>();
function snapshotOf(step: LoadStep, windowStartMs: number, windowMs: number): LoadSnapshot {
  const known = snapshotsOfSteps.get(step);
  if (known?.windowStartMs === windowStartMs && known.windowMs === windowMs) return known;
  const made: LoadSnapshot = { windowStartMs, windowMs, shards: step.shards, nodes: step.nodes };
  snapshotsOfSteps.set(step, made);
  return made;
}

/** Bounds of {@link snapshotsFromSteps}. */
export interface SnapshotBounds {
  readonly notAfterMs: number;
  readonly onFuture?: (w: FutureWindow) => void;
  readonly shardCount?: number;
  readonly onOtherShardCount?: (w: OtherShardCountWindow) => void;
}

/**
 * Snapshots from the steps of one span, oldest first: one per window a step's gauge names (a window
 * named at two steps counts once, at its first step). With `notAfterMs`, a window ending after it
 * (it has not ended yet by keyway's clock: clocks out of step, or a careless Prometheus) is skipped
 * and handed to `onFuture`: its figures would be partial, and as the newest window it would anchor
 * the policy's replay and pass for recent load until then. With `shardCount`, a window whose step
 * saw a replica export another shard count is skipped and handed to `onOtherShardCount`: its shard
 * numbers may name other keys under the S in force. A step with no shard count (a Prometheus that
 * does not keep the gauge) keeps its window.
 */
export function snapshotsFromSteps(steps: ReadonlyMap<number, LoadStep>, windowMs: number, bounds?: SnapshotBounds): LoadSnapshot[] {
  const out: LoadSnapshot[] = [];
  const seen = new Set<number>();
  for (const t of [...steps.keys()].sort((a, b) => a - b)) {
    const step = steps.get(t)!;
    const start = step.windowStartMs;
    if (start === undefined || seen.has(start) || start % windowMs !== 0) continue;
    if (bounds && start + windowMs > bounds.notAfterMs) {
      bounds.onFuture?.({ windowStartMs: start, stepMs: t, aheadMs: start + windowMs - bounds.notAfterMs });
      continue;
    }
    seen.add(start);
    const { minShards, maxShards } = step;
    if (bounds?.shardCount !== undefined && (minShards !== undefined || maxShards !== undefined) && (minShards !== bounds.shardCount || maxShards !== bounds.shardCount)) {
      bounds.onOtherShardCount?.({ windowStartMs: start, minShards: minShards ?? maxShards!, maxShards: maxShards ?? minShards! });
      continue;
    }
    out.push(snapshotOf(step, start, windowMs));
  }
  return out.sort((a, b) => a.windowStartMs - b.windowStartMs);
}

/**
 * Turns a query_range matrix of {@link loadQuery} into snapshots, oldest first
 * ({@link stepsFromMatrix}, then {@link snapshotsFromSteps}).
 */
export function snapshotsFromMatrix(series: readonly MatrixSeries[], windowMs: number, bounds?: SnapshotBounds): LoadSnapshot[] {
  return snapshotsFromSteps(stepsFromMatrix(series), windowMs, bounds);
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

/**
 * The Prometheus source: `latest(h)` reads the span's steps it does not hold yet (query_range, at
 * most PROMETHEUS_MAX_STEPS_PER_QUERY steps per call); `onChange` fires once per window, lagMs
 * after its end.
 */
export class PrometheusLoadSource implements LoadSnapshotSource {
  readonly #opts: PrometheusLoadSourceOptions;
  readonly #now: () => number;
  readonly #fetch: typeof fetch;
  readonly #listeners = new Set<() => void>();
  #tick: NodeJS.Timeout | undefined;
  #closed = false;
  /**
   * The steps read so far (step time, ms), for the window length `#heldWindowMs`. A step at or
   * before `now - lagMs` reads scrapes that have all been ingested (what lagMs is for), so its
   * answer does not change: a read asks only for the steps it does not hold, one or two per window
   * instead of the whole span (77 steps with the defaults), and gives the snapshots a read of the
   * whole span gives.
   */
  #held = new Map<number, LoadStep>();
  #heldWindowMs: number | undefined;
  /**
   * The answers the newest held steps had before drops of the held steps (the steps later reads
   * check): an answer that goes back to one of them shows servers taking turns behind the URL (one
   * Prometheus changes a settled step once: it lost its data, or ingested a scrape late).
   */
  #replaced = new Map<number, LoadStep[]>();
  /**
   * Several servers answer at the URL: a changed answer is merged into the held step, not a reason
   * to read the span again. For the source's life (a reload that changes the URL makes a new one):
   * the servers of a pair differ only now and then, and ending it after a run of agreeing reads
   * read the span again at the next difference, and gave one server's view until the pair was
   * seen again.
   */
  #merging = false;
  /**
   * The pair was just named and the span's held steps are not yet merged with the answer of the
   * server that named it. Before the pair is named, a changed check reads the span again from one
   * server, so every held step older than the checks is that server's view, and the checks never
   * reach them again: two replicas that last read the span from different servers held different
   * windows for as long as the span (77 windows with the defaults), about a quarter of them with
   * servers that differ on a third. One read of the span, merged (max) into the held steps, gives
   * them the other server's view too. Cleared once such a read completes (a failed one is
   * retried by the next read).
   */
  #mergeSpan = false;

  constructor(opts: PrometheusLoadSourceOptions) {
    if (!/^https?:\/\//.test(opts.url)) throw new TypeError(`hotShards.snapshot.url: ${JSON.stringify(opts.url)} is not an http(s) URL`);
    this.#opts = opts;
    this.#now = opts.now ?? Date.now;
    this.#fetch = opts.fetch ?? fetch;
    this.#schedule();
  }

  /**
   * The snapshots of the `windows` steps (step = the window) ending at
   * floor((now - lagMs) / window) * window (docs/load-reports.md "source: prometheus"), the same
   * for every replica reading in that window. Steps held from earlier reads are not asked for again;
   * the newest PROMETHEUS_CHECKED_STEPS held steps are, with the new ones (and the newest that names
   * a window): if an answer changed (Prometheus restarted without its data, or ingested a scrape
   * later than lagMs allows), every held step is dropped and the whole span read anew, so a replica
   * that held steps does not read other numbers than one that reads the span whole. An answer that
   * goes back to one given before shows several servers behind the URL: said once, the span read
   * once more and merged into the held steps, and from then on a changed answer is merged into its
   * held step ({@link mergeSteps}) and the newest PROMETHEUS_MERGED_CHECKED_STEPS held steps are
   * checked. Rejects when Prometheus does not answer well.
   */
  async latest(windows: number, recentWindows?: number): Promise<readonly LoadSnapshot[]> {
    const w = this.#opts.windowMs();
    if (w === undefined || windows < 1) return [];
    const end = windowStart(this.#now() - this.#opts.lagMs, w);
    const start = end - (windows - 1) * w;
    if (this.#heldWindowMs !== w) {
      this.#held = new Map();
      this.#replaced = new Map();
      this.#mergeSpan = false;
      this.#heldWindowMs = w;
    }
    // Taken now: a read running alongside (a reload reads at once) may replace the steps held.
    let held = this.#held;
    const timeoutMs = this.#opts.timeoutMs ?? PROMETHEUS_QUERY_TIMEOUT_MS;
    let signal: AbortSignal | undefined;
    const read = new Map<number, LoadStep>();
    let checks: readonly number[] = [];
    let changed = false;
    // `mergeAll`: every held step answered is merged (the span read once the pair is named), not
    // only the checks.
    const readSteps = async (steps: readonly number[], mergeAll = false): Promise<void> => {
      for (const [from, to] of stepRuns(steps, w, PROMETHEUS_MAX_STEPS_PER_QUERY)) {
        signal = AbortSignal.timeout(timeoutMs);
        const answer = await this.#query(w, from, to, signal);
        const differ: number[] = [];
        for (let t = from; t <= to; t += w) {
          const got = answer.get(t) ?? EMPTY_STEP;
          read.set(t, got);
          const had = !changed && (mergeAll || checks.includes(t)) ? held.get(t) : undefined;
          if (had !== undefined && !sameStep(got, had)) differ.push(t);
        }
        if (differ.length === 0) continue;
        const back = differ.find((t) => (this.#replaced.get(t) ?? []).some((before) => sameStep(read.get(t)!, before)));
        if (back !== undefined && !this.#merging) {
          this.#merging = true;
          this.#mergeSpan = true;
          (this.#opts.onSeveralServers ?? this.#opts.onWarning ?? this.#opts.onError)?.(severalServersWarning(this.#opts.url, back, read.get(back)!.windowStartMs));
        }
        if (this.#merging) {
          // Each server's answer is one view of the same scrapes: their max, order aside, is what
          // every replica that heard both holds, where dropping the steps made each such read ask
          // for the whole span again (ten queries with the defaults) and hold the last server's
          // view. A step the merge leaves as held stays the same object, so its snapshot does too.
          for (const t of differ) {
            const merged = mergeSteps(held.get(t)!, read.get(t)!);
            read.set(t, sameStep(merged, held.get(t)!) ? held.get(t)! : merged);
          }
          continue;
        }
        // Judged as soon as its slice is answered, not after the last slice: a later slice that
        // fails must not leave the held steps (another Prometheus's data) beside the new ones,
        // where the next read, checking only its newest held steps, would never find them.
        changed = true;
        const kept = new Map<number, LoadStep[]>();
        for (const [t, step] of held) {
          if (t < end - PROMETHEUS_CHECKED_STEPS * w) continue;
          const earlier = (this.#replaced.get(t) ?? []).filter((e) => !sameStep(e, step));
          kept.set(t, [step, ...earlier].slice(0, MAX_REPLACED_ANSWERS));
        }
        this.#replaced = kept;
        held = new Map();
        this.#held = held;
      }
    };
    try {
      const missing: number[] = [];
      for (let t = start; t <= end; t += w) if (!held.has(t)) missing.push(t);
      // The newest held steps, read again to check that what is held still stands; and the newest
      // held step that names a window, when that is older: an empty step (no load, or no replica
      // scraped) reads empty from a Prometheus that lost its data too, and the loss went unseen.
      const before = missing.length === 0 ? [] : [...held.keys()].filter((t) => t >= start && t < missing[0]!).sort((a, b) => a - b);
      const named = before.filter((t) => held.get(t)!.windowStartMs !== undefined);
      const checked = this.#merging ? PROMETHEUS_MERGED_CHECKED_STEPS : PROMETHEUS_CHECKED_STEPS;
      checks = [...new Set([named[named.length - 1], ...before.slice(-checked)])].filter((t): t is number => t !== undefined);
      await readSteps([...new Set([...checks, ...missing])].sort((a, b) => a - b));
      const rest = (): number[] => [...Array(windows).keys()].map((i) => start + i * w).filter((t) => !read.has(t));
      if (changed) await readSteps(rest());
      else if (this.#merging && this.#mergeSpan) {
        await readSteps(rest(), true);
        this.#mergeSpan = false;
      }
    } catch (err) {
      // The slices answered before the failure are final too: the next read goes on from them
      // (a Prometheus slow on the whole span still gets it read, a slice per read at worst).
      if (this.#heldWindowMs === w) for (const [t, step] of read) this.#held.set(t, step);
      const why = signal?.aborted ? `no complete answer within ${timeoutMs} ms` : fetchFailureText(err);
      const e = new Error(`load snapshots from Prometheus ${this.#opts.url}: ${why}`);
      this.#opts.onError?.(e);
      throw e;
    }
    // Kept: the span's steps (a read for a longer span asks for the older ones it lacks).
    const steps = new Map<number, LoadStep>();
    for (let t = start; t <= end; t += w) steps.set(t, read.get(t) ?? held.get(t) ?? EMPTY_STEP);
    if (this.#heldWindowMs === w) this.#held = steps;
    // Only windows ended by keyway's clock at this read (aligned like `end`, so replicas reading
    // in the same window draw the same line).
    const notAfterMs = end + this.#opts.lagMs;
    const future: FutureWindow[] = [];
    const otherCount: OtherShardCountWindow[] = [];
    const shardCount = this.#opts.shardCount?.();
    const snapshots = snapshotsFromSteps(steps, w, {
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
  }

  /** One query_range call, steps `from` to `to` (ms): its steps within them. */
  async #query(w: number, from: number, to: number, signal: AbortSignal): Promise<Map<number, LoadStep>> {
    const q = new URLSearchParams({ query: loadQuery(w), start: String(from / 1000), end: String(to / 1000), step: promStep(w) });
    const res = await this.#fetch(`${this.#opts.url.replace(/\/+$/, '')}/api/v1/query_range?${q}`, { signal });
    const text = await boundedText(res, PROMETHEUS_MAX_RESPONSE_BYTES);
    if (!res.ok) throw new Error(`HTTP ${res.status}: ${prometheusError(text)}`);
    const body = JSON.parse(text) as { status?: string; data?: { resultType?: string; result?: MatrixSeries[] } } | null;
    if (body?.status !== 'success' || body.data?.resultType !== 'matrix' || !Array.isArray(body.data.result)) {
      throw new Error(`unexpected answer: ${text.slice(0, 200)}`);
    }
    const steps = stepsFromMatrix(body.data.result);
    // Steps it was not asked for (off the grid, outside the range) are not this call's to give.
    for (const t of [...steps.keys()]) if (t < from || t > to || (t - from) % w !== 0) steps.delete(t);
    return steps;
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
