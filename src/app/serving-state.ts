/**
 * The serving state: the one writable holder of the shard map in force (docs/architecture.md
 * "Who writes state"). The runner publishes; every stage reads it as a {@link ServingReader}.
 */
import type { RejectedSnapshot, SnapshotHealthReader } from '../core/health.js';
import type {
  ServingReader,
  ServingView,
  ShardMapChange,
  SourceErrorListener,
  SourceStatus,
  ViewListener,
} from '../core/serving.js';

/**
 * A published view and when its map's version came into force in this process: kept across
 * republishes of that version (a reload that changes nothing in the map, source health, a handoff
 * step that flips nothing), moved by a new version, also one that was in force before (a change
 * undone). Clients polling replicas at different versions order maps by it (docs/clients.md
 * "Several keyway replicas"); `updatedAt`, stamped at every publish, would make a replica behind
 * look newer each time it republished.
 */
export interface PublishedView extends ServingView {
  readonly versionSince: Date;
}

/** How many past changes {@link ServingState.history} keeps. */
export const HISTORY_LENGTH = 32;

/**
 * What a pipeline error is about. Each holds until its own step succeeds: `input` (the latest
 * topology file or endpoint change did not become a map: cleared by the next input applied),
 * `kubernetes` (the file's `kubernetes:` section could not start: cleared when a reload chooses
 * again or the source starts), `load` (the hot-shard policy failed on the latest load snapshots:
 * cleared by the next decision) and `handoff` (a handoff step failed: cleared by the next one).
 */
export type PipelineStep = 'input' | 'kubernetes' | 'load' | 'handoff';
/** The order {@link ServingState.pipelineError} reports them in: the input's first. */
const STEPS: readonly PipelineStep[] = ['input', 'kubernetes', 'load', 'handoff'];

/**
 * The runner's only writable ServingReader (docs/architecture.md "Who writes state"); each publish
 * makes a new immutable view, so a reader never sees a half-applied update.
 */
export class ServingState implements ServingReader, SnapshotHealthReader {
  #view: PublishedView | undefined;
  #history: ShardMapChange[] = [];
  readonly #errors = new Map<PipelineStep, Error>();
  #sources: () => readonly SourceStatus[] = () => [];
  readonly #snapshotReaders = new Set<() => readonly RejectedSnapshot[]>();
  readonly #listeners = new Set<ViewListener>();
  readonly #sourceErrorListeners = new Set<SourceErrorListener>();

  readonly #now: () => Date;

  /** @param now the wall clock that stamps each view (tests inject one). */
  constructor(now: () => Date = () => new Date()) {
    this.#now = now;
  }

  /** The view in force, or undefined before the first shard map. */
  current(): PublishedView | undefined {
    return this.#view;
  }

  /** Past shard-map changes that moved at least one shard, newest first. */
  history(): readonly ShardMapChange[] {
    return this.#history;
  }

  /**
   * Subscribes to published views: the shard map, the endpoints or the xDS settings changed. The
   * listener runs synchronously after each publish, so it should only schedule its work. Returns an unsubscribe function.
   */
  onShardMap(listener: ViewListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /**
   * Subscribes to source failures (each failed read of the topology file, each retried Kubernetes
   * API call), e.g. to count them in `keyway_source_errors_total`. Runs synchronously; listener
   * failures are ignored. Returns an unsubscribe function.
   */
  onSourceError(listener: SourceErrorListener): () => void {
    this.#sourceErrorListeners.add(listener);
    return () => this.#sourceErrorListeners.delete(listener);
  }

  /** Status of every source feeding the map (the topology file, Kubernetes), for `/readyz`. */
  sources(): readonly SourceStatus[] {
    return this.#sources();
  }

  /**
   * Why the latest input could not become a shard map (the previous map stays in force), or
   * undefined when the latest input was applied; else why a later step on it (a load decision, a
   * handoff step) failed, until that step succeeds.
   */
  pipelineError(): Error | undefined {
    for (const step of STEPS) {
      const err = this.#errors.get(step);
      if (err) return err;
    }
    return undefined;
  }

  /**
   * Watched proxy classes whose latest snapshot the xDS stage's cache refused (their proxies keep an
   * older one): a degraded reason of `/readyz` and `keyway_degraded`. Kept apart from
   * {@link pipelineError}: the map in force is the latest input's, so `/v1/shardmap` is not stale,
   * and which classes are refused depends on the proxies connected to this replica.
   */
  snapshotRejections(): readonly RejectedSnapshot[] {
    if (this.#snapshotReaders.size === 0) return [];
    return [...this.#snapshotReaders].flatMap((read) => read());
  }

  /** Installs a reader behind {@link snapshotRejections} (the xDS stage's cache). Returns the uninstaller. */
  observeSnapshotRejections(read: () => readonly RejectedSnapshot[]): () => void {
    this.#snapshotReaders.add(read);
    return () => this.#snapshotReaders.delete(read);
  }

  // ---- written by the runner only

  /** Installs the provider behind {@link sources}. */
  setSourceStatus(provider: () => readonly SourceStatus[]): void {
    this.#sources = provider;
  }

  /** Sets or clears (undefined) the error of one step; the others keep theirs. */
  setPipelineError(err: Error | undefined, step: PipelineStep = 'input'): void {
    if (err) this.#errors.set(step, err);
    else this.#errors.delete(step);
  }

  /** A source in use failed (its last good state stays in force): tells the source-error listeners. */
  reportSourceError(source: string, err: Error): void {
    for (const l of this.#sourceErrorListeners) {
      try {
        l(source, err);
      } catch {
        // A metrics listener must not break the source that reports.
      }
    }
  }

  /**
   * Publishes a new view and tells the listeners. Listener failures are reported to `onListenerError`.
   * The pipeline error stays: a view may be a later step on the old input (a handoff flip, a load
   * decision), so only the runner, having applied the latest input, clears it.
   */
  publish(
    next: Omit<ServingView, 'sequence' | 'updatedAt'>,
    onListenerError: (err: unknown) => void = () => {},
  ): PublishedView {
    const previous = this.#view;
    const updatedAt = this.#now();
    // The previous view's version only: v1 -> v2 -> v1 is a new change, stamped anew.
    const versionSince = previous !== undefined && previous.map.version === next.map.version ? previous.versionSince : updatedAt;
    const view: PublishedView = { ...next, sequence: (previous?.sequence ?? 0) + 1, updatedAt, versionSince };
    this.#view = view;
    if (next.diff && next.diff.moves.length > 0) {
      this.#history = [
        { fromVersion: next.diff.fromVersion, toVersion: next.diff.toVersion, at: view.updatedAt, moves: next.diff.moves },
        ...this.#history,
      ].slice(0, HISTORY_LENGTH);
    }
    for (const l of this.#listeners) {
      try {
        l(view, previous);
      } catch (err) {
        onListenerError(err);
      }
    }
    return view;
  }
}
