/**
 * The load signal of `keyway serve` (docs/load-reports.md): builds the load snapshot source the
 * topology's `hotShards.snapshot` names, rebuilds it when a reload changes that choice, hands the
 * xDS server one stable ReportLoad sink and the telemetry stage what to export, and tells the
 * hot-shard policy when a newer snapshot may be readable.
 */
import type { Logger } from 'pino';
import type { HotShardSettings, LoadReport, LoadReportIntake, LoadSnapshot, LoadSnapshotSource } from '../core/load.js';
import { createLoadSignal, type LoadSignal, type LoadSignalSettings } from '../sources/load/index.js';

/** The window and source when the topology file has no `hotShards:` section (docs/load-reports.md). */
export const DEFAULT_LOAD_SIGNAL: LoadSignalSettings = { windowMs: 10_000, snapshot: { source: 'local' } };

/** The load settings of a topology (`hotShards:` when the file has one, else the defaults). */
export function loadSignalSettings(config: { readonly file: string; readonly hotShards?: HotShardSettings }): LoadSignalSettings {
  return config.hotShards ?? DEFAULT_LOAD_SIGNAL;
}

export class LoadDriver implements LoadReportIntake {
  readonly #log: Logger;
  #settings: LoadSignalSettings;
  #signal: LoadSignal;
  readonly #listeners = new Set<() => void>();
  #unsubscribe: () => void;

  constructor(settings: LoadSignalSettings, logger: Logger) {
    this.#log = logger.child({ component: 'load' });
    this.#settings = settings;
    this.#signal = this.#build();
    this.#unsubscribe = this.#signal.source.onChange(() => this.#emit());
  }

  /** The snapshot source in force (the policy reads `latest(historyWindows)`). */
  get source(): LoadSnapshotSource {
    return this.#signal.source;
  }

  /** Called when a newer snapshot may be readable (once per window, and on a rebuilt source). */
  onChange(cb: () => void): () => void {
    this.#listeners.add(cb);
    return () => this.#listeners.delete(cb);
  }

  /** A reload: a new window length applies from the next window; a new source kind or URL rebuilds the source. */
  reconfigure(settings: LoadSignalSettings): void {
    const rebuild = JSON.stringify(settings.snapshot) !== JSON.stringify(this.#settings.snapshot);
    this.#settings = settings;
    if (!rebuild) return;
    const old = this.#signal;
    this.#unsubscribe();
    this.#signal = this.#build();
    this.#unsubscribe = this.#signal.source.onChange(() => this.#emit());
    void old.close();
    this.#log.info({ source: settings.snapshot.source }, 'load snapshot source changed');
    this.#emit();
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

  async close(): Promise<void> {
    this.#unsubscribe();
    this.#listeners.clear();
    await this.#signal.close();
  }

  #build(): LoadSignal {
    return createLoadSignal(() => this.#settings, { onError: (err) => this.#log.warn({ err: err.message }, 'reading load snapshots failed; the policy keeps its last inputs') });
  }

  #emit(): void {
    for (const cb of [...this.#listeners]) cb();
  }
}
