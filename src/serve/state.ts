/**
 * The serving state: the shard map in force and what the admin API and the xDS stage read from it
 * (DESIGN.md "The pipeline": admin reads state, never writes it). Only the runner publishes.
 */
import type { XdsTiming } from '../config/index.js';
import type { Topology } from '../model/settings.js';
import type { ShardMap, ShardMapDiff, ShardMove } from '../sharding/types.js';
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
}

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
