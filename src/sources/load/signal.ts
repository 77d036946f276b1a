/**
 * The load signal of one keyway replica, put together from the topology's `hotShards:` settings
 * (docs/load-reports.md): the aggregate the xDS server hands reports to, the snapshot source the
 * policy reads (local or Prometheus), and what the telemetry stage exports.
 */
import type { HotShardSettings, LoadSnapshot, LoadSnapshotSource } from '../../core/load.js';

/**
 * What the signal needs of the topology: its `hotShards:` section, and the shard count S, so that
 * windows counted under another S are not read (docs/load-reports.md "A change of shards").
 */
export type LoadSignalSettings = Pick<HotShardSettings, 'windowMs' | 'snapshot' | 'historyWindows' | 'replayWindows'> & { readonly shardCount?: number };
import { windowStart } from '../../core/load.js';
import { LoadAggregate } from './aggregate.js';
import { LocalLoadSource } from './local.js';
import { PrometheusLoadSource } from './prometheus.js';

export interface LoadSignal {
  /** The xDS server's ReportLoad sink. */
  readonly aggregate: LoadAggregate;
  /** Tells the source that `aggregate` took a report for the window starting at `windowStartMs` (given an aggregate, its owner calls this). */
  reported(windowStartMs: number): void;
  /** What the policy reads. */
  readonly source: LoadSnapshotSource;
  /** The last closed window, as the reports this replica received sum it; undefined when none came (the `keyway_load_*` gauges). */
  exported(): LoadSnapshot | undefined;
  close(): Promise<void>;
}

/**
 * Builds the signal. `settings()` is read at every use, so a reloaded window length applies from
 * the next window (a source kind change needs a new signal: the runner rebuilds it). `aggregate`:
 * the reports received so far, kept across such a rebuild (they do not depend on the source).
 */
export function createLoadSignal(
  settings: () => LoadSignalSettings | undefined,
  opts: { readonly now?: () => number; readonly onError?: (err: Error) => void; readonly onWarning?: (err: Error) => void; readonly onSeveralServers?: (err: Error) => void; readonly aggregate?: LoadAggregate } = {},
): LoadSignal {
  const now = opts.now ?? Date.now;
  const windowMs = (): number | undefined => settings()?.windowMs;
  const shardCount = (): number | undefined => settings()?.shardCount;
  let local: LocalLoadSource | undefined;
  const aggregate = opts.aggregate ?? new LoadAggregate({ windowMs, onReport: (start) => local?.reported(start) });
  const snapshot = settings()?.snapshot ?? { source: 'local' as const };
  const source: LoadSnapshotSource =
    snapshot.source === 'prometheus'
      ? new PrometheusLoadSource({ url: snapshot.url, lagMs: snapshot.lagMs, windowMs, shardCount, now, ...(opts.onError ? { onError: opts.onError } : {}), ...(opts.onWarning ? { onWarning: opts.onWarning } : {}), ...(opts.onSeveralServers ? { onSeveralServers: opts.onSeveralServers } : {}) })
      : (local = new LocalLoadSource({ aggregate, windowMs, shardCount, now }));
  return {
    aggregate,
    reported: (start) => local?.reported(start),
    source,
    exported() {
      const w = windowMs();
      if (w === undefined) return undefined;
      // Only a window of the length in force: after a reload to a longer one, a window of the old
      // length can start where the last closed one does (its rate over part of the span).
      const s = aggregate.snapshot(windowStart(now(), w) - w);
      return s?.windowMs === w ? s : undefined;
    },
    close: () => source.close(),
  };
}
