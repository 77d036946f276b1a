/**
 * The serving state: the shard map in force and what the admin API and the xDS stage read from it
 * (DESIGN.md "The pipeline": admin reads state, never writes it). Only the runner publishes.
 */
import type { XdsTiming } from '../config/index.js';
import type { Topology } from '../core/settings.js';
import type { ShardMap, ShardMapDiff, ShardMove } from '../core/shard-map.js';
import type { SourceStatus } from '../sources/source.js';

/** One published state of the pipeline. Immutable; a new object on every change. */
export interface ServingView {
  /** 1 for the first published view, then +1 per publish. */
  readonly sequence: number;
  readonly map: ShardMap;
  /** Policy and xDS settings from the topology file; `endpoints` are the ones in force (= map.endpoints). */
  readonly topology: Topology;
  readonly xdsTiming: XdsTiming;
  /** Owner changes from the previous view's map; absent for the first view. */
  readonly diff?: ShardMapDiff;
  readonly updatedAt: Date;
  /** What led to this view and what computing its map cost (set by the runner; for metrics and traces). */
  readonly cause?: ChangeCause;
}

/**
 * Why a view was published: the source event the runner acted on and the shard-map computation it
 * ran. The change trace starts at `detectedAt` and shows the computation as `keyway.sharding`;
 * `keyway_shardmap_compute_duration_seconds` records `computeSeconds`.
 */
export interface ChangeCause {
  /** `start` for the first map, else the source whose event led here: `file` (the topology file), `kubernetes`. */
  readonly source: 'file' | 'kubernetes' | 'start';
  /** In a few words: `start`, `topology file changed`, `endpoints changed`. */
  readonly reason: string;
  /** When the runner received the source's event (after the source's own debouncing), before queueing it. */
  readonly detectedAt: Date;
  /** Wall-clock start of the shard-map computation. */
  readonly computeStartedAt: Date;
  /** Duration of the computation (nextShardMap), from a monotonic clock. */
  readonly computeSeconds: number;
  /** `unchanged`: the map was reused (only endpoint details outside the map or xDS settings changed). */
  readonly mode: 'full' | 'incremental' | 'unchanged';
}

/** A source failure the runner forwarded; `source` is the source's kind (`file`, `kubernetes`). */
export type SourceErrorListener = (source: string, err: Error) => void;

/** A past change of the shard map, kept for the admin API. */
export interface ShardMapChange {
  readonly fromVersion: string;
  readonly toVersion: string;
  readonly at: Date;
  readonly moves: readonly ShardMove[];
}

export type ViewListener = (view: ServingView, previous: ServingView | undefined) => void;

/** How many past changes {@link ServingState.history} keeps. */
export const HISTORY_LENGTH = 32;

export class ServingState {
  #view: ServingView | undefined;
  #history: ShardMapChange[] = [];
  #error: Error | undefined;
  #sources: () => readonly SourceStatus[] = () => [];
  readonly #listeners = new Set<ViewListener>();
  readonly #sourceErrorListeners = new Set<SourceErrorListener>();

  /** The view in force, or undefined before the first shard map. */
  current(): ServingView | undefined {
    return this.#view;
  }

  /** Past shard-map changes that moved at least one shard, newest first. */
  history(): readonly ShardMapChange[] {
    return this.#history;
  }

  /**
   * Subscribes to published views: the shard map, the endpoints or the xDS settings changed. The
   * listener runs synchronously after each publish, so it should only schedule its work (the xDS
   * stage debounces with `view.xdsTiming`). Returns an unsubscribe function.
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
   * undefined when the latest input was applied.
   */
  pipelineError(): Error | undefined {
    return this.#error;
  }

  // ---- written by the runner only

  /** Installs the provider behind {@link sources}. */
  setSourceStatus(provider: () => readonly SourceStatus[]): void {
    this.#sources = provider;
  }

  setPipelineError(err: Error | undefined): void {
    this.#error = err;
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

  /** Publishes a new view and tells the listeners. Listener failures are reported to `onListenerError`. */
  publish(
    next: Omit<ServingView, 'sequence' | 'updatedAt'>,
    onListenerError: (err: unknown) => void = () => {},
  ): ServingView {
    const previous = this.#view;
    const view: ServingView = { ...next, sequence: (previous?.sequence ?? 0) + 1, updatedAt: new Date() };
    this.#view = view;
    this.#error = undefined;
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
