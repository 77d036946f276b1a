/**
 * The load signal of `keyway serve` (docs/load-reports.md): builds the load snapshot source the
 * topology's `hotShards.snapshot` names, rebuilds it when a reload changes that choice, hands the
 * xDS server one stable ReportLoad sink and the telemetry stage what to export, and is the
 * runner's `LoadSnapshotReader`: it reads the source once per window (and on late reports) and
 * tells the hot-shard policy when the snapshots changed.
 */
import type { Logger } from 'pino';
import { DEFAULT_HOT_SHARD_SETTINGS, type HotShardSettings, type LoadReport, type LoadReportIntake, type LoadSnapshot, type LoadSnapshotReader, type LoadSnapshotSource } from '../core/load.js';
import { heldWindows } from '../sharding/index.js';
import { createLoadSignal, LoadAggregate, type LoadSignal, type LoadSignalSettings } from '../sources/load/index.js';

/** The load settings of a topology (`hotShards:` when the file has one, else the defaults), with its shard count. */
export function loadSignalSettings(config: {
  readonly file: string;
  readonly hotShards?: HotShardSettings;
  readonly topology?: { readonly policy: { readonly shardCount: number } };
}): LoadSignalSettings {
  const hot = config.hotShards ?? DEFAULT_HOT_SHARD_SETTINGS;
  return config.topology === undefined ? hot : { ...hot, shardCount: config.topology.policy.shardCount };
}

/**
 * The load side of docs/load-reports.md "Sharing the snapshot" in `keyway serve`: one object is sink,
 * reader and exporter, so a reload can swap the source without rewiring the xDS server or the policy.
 */
export class LoadDriver implements LoadReportIntake, LoadSnapshotReader {
  readonly #log: Logger;
  #settings: LoadSignalSettings;
  /**
   * The reports this replica received: kept when a reload rebuilds the source, which they do not
   * depend on. Rebuilt with it, a switch back to `local` read none (plain rendezvous at once, the
   * replay's hysteresis lost) and the window exported to Prometheus lost the reports already in.
   */
  readonly #aggregate: LoadAggregate;
  #signal: LoadSignal;
  readonly #listeners = new Set<() => void>();
  #unsubscribe: () => void;
  /** The snapshots in force (what the policy reads), and the read that produced them. */
  #snapshots: readonly LoadSnapshot[] = [];
  #key = '[]';
  /** Reads started; the newest whose answer was taken; the last started before the source was rebuilt. */
  #reads = 0;
  #settled = 0;
  #oldSource = 0;
  /** Consecutive failed reads; after `historyWindows` of them the snapshots are dropped (plain rendezvous). */
  #failures = 0;
  #closed = false;

  constructor(settings: LoadSignalSettings, logger: Logger) {
    this.#log = logger.child({ component: 'load' });
    this.#settings = settings;
    this.#aggregate = new LoadAggregate({ windowMs: () => this.#settings.windowMs, onReport: (start) => this.#signal.reported(start) });
    this.#signal = this.#build();
    this.#unsubscribe = this.#signal.source.onChange(() => void this.#refresh());
  }

  /** The last `heldWindows(settings)` snapshots with data, oldest first (LoadSnapshotReader). */
  latest(): readonly LoadSnapshot[] {
    return this.#snapshots;
  }

  /** The snapshot source in force (the policy reads `latest(heldWindows(settings), historyWindows)`). */
  get source(): LoadSnapshotSource {
    return this.#signal.source;
  }

  /** Called after `latest()` changed (LoadSnapshotReader). */
  onChange(cb: () => void): () => void {
    this.#listeners.add(cb);
    return () => this.#listeners.delete(cb);
  }

  /**
   * A reload: a new window length, source kind or URL rebuilds the source (the reports received
   * stay) and reads it at once; a new shard count drops the snapshots in force at once
   * (docs/load-reports.md "A change of shards"), before the runner decides on the new map, and
   * reads them anew; a longer or shorter history is read at once.
   */
  reconfigure(settings: LoadSignalSettings): void {
    const resourced = JSON.stringify(settings.snapshot) !== JSON.stringify(this.#settings.snapshot);
    // A source times its reads by the window length in force when it armed its timer: kept, it
    // read a shorter window only once the longer one had ended (up to an hour later).
    const rebuild = resourced || settings.windowMs !== this.#settings.windowMs;
    const reshard = settings.shardCount !== this.#settings.shardCount && this.#settings.shardCount !== undefined;
    // The snapshots in force span the windows the old settings read: a longer history must not
    // wait for the next window (up to an hour) to be read, nor a shorter one keep older load.
    const respan = heldWindows(settings) !== heldWindows(this.#settings) || settings.historyWindows !== this.#settings.historyWindows;
    this.#settings = settings;
    if (reshard) this.#dropForNewShardCount(settings.shardCount);
    if (!rebuild) {
      if (reshard || respan) void this.#refresh();
      return;
    }
    const old = this.#signal;
    this.#unsubscribe();
    this.#oldSource = this.#reads;
    // #failures counts on: the snapshots in force are the old source's, as stale as its failed reads.
    this.#signal = this.#build();
    this.#unsubscribe = this.#signal.source.onChange(() => void this.#refresh());
    void old.close();
    if (resourced) this.#log.info({ source: settings.snapshot.source }, 'load snapshot source changed');
    void this.#refresh();
  }

  windowMs(): number | undefined {
    return this.#settings.windowMs;
  }

  reportLoad(report: LoadReport): void {
    this.#signal.aggregate.reportLoad(report);
  }

  exported(): LoadSnapshot | undefined {
    return this.#signal.exported();
  }

  snapshotReadFailures(): number {
    return this.#failures;
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#unsubscribe();
    this.#listeners.clear();
    await this.#signal.close();
  }

  /**
   * The snapshots in force count shard numbers under the old S, which name other keys now: the
   * policy must not read them for the new map. Reads begun before are not taken either.
   */
  #dropForNewShardCount(shardCount: number | undefined): void {
    this.#oldSource = this.#reads;
    // Kept across source rebuilds, the reports must not reach a source built after this change, nor
    // the window under way (counted under both S) a source rebuilt before it ends.
    this.#aggregate.clear(Date.now());
    this.#log.info({ shardCount }, 'shard count changed: load windows counted under the old one are not read');
    if (this.#snapshots.length === 0) return;
    this.#snapshots = [];
    this.#key = '[]';
    for (const cb of [...this.#listeners]) cb();
  }

  #build(): LoadSignal {
    return createLoadSignal(() => this.#settings, {
      aggregate: this.#aggregate,
      onError: (err) => this.#log.warn({ err: err.message }, 'reading load snapshots failed; the policy keeps its last inputs'),
      // The read succeeded; only windows not yet ended by keyway's clock, or counted while a
      // replica served another shard count, were left out (the message says which).
      onWarning: (err) => this.#log.warn({ err: err.message }, 'load snapshots: windows skipped'),
      onSeveralServers: (err) => this.#log.warn({ err: err.message }, 'load snapshots: several Prometheus servers answer at hotShards.snapshot.url'),
    });
  }

  /**
   * Reads the source; a changed answer replaces the snapshots in force and is announced. An answer
   * is taken unless a later read's came first (or the source was rebuilt since): a read is not
   * dropped merely because a later one started, or where every read takes longer than a window
   * (a slow Prometheus, a short window) none would ever be taken and the policy would keep its
   * old inputs for good, never falling back to plain rendezvous either.
   */
  async #refresh(): Promise<void> {
    const read = ++this.#reads;
    const stale = (): boolean => this.#closed || read < this.#settled || read <= this.#oldSource;
    let next: readonly LoadSnapshot[];
    try {
      // The windows the policy replays; none when no node reported in the judged history.
      next = await this.#signal.source.latest(heldWindows(this.#settings), this.#settings.historyWindows);
      if (stale()) return;
      this.#settled = read;
      this.#failures = 0;
    } catch {
      if (stale()) return;
      this.#settled = read;
      // Logged by the source. A source that stays down must not pin old load: drop it in time.
      if (++this.#failures < this.#settings.historyWindows) return;
      next = [];
    }
    // The local source hands back the same snapshot objects for windows nothing changed in: no
    // need to serialize megabytes of them to see that.
    if (next.length === this.#snapshots.length && next.every((s, i) => s === this.#snapshots[i])) return;
    const key = JSON.stringify(next);
    if (key === this.#key) return;
    this.#key = key;
    this.#snapshots = next;
    for (const cb of [...this.#listeners]) cb();
  }
}
