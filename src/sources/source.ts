/**
 * The contract every endpoint source implements (docs/architecture.md "One data path"): the file
 * source and the Kubernetes source publish the same normalized endpoint list, keep their last good
 * state when their backend fails, and say so in their status.
 */
import type { Endpoint } from '../core/endpoint.js';
import type { SourceStatus } from '../core/serving.js';

export type { SourceStatus };

export interface Source {
  /**
   * Loads the initial state. Resolves once `current()` is meaningful; rejects (with a KeywayError
   * or KeywayErrors) when the source cannot start at all, e.g. a topology file that is invalid.
   */
  start(): Promise<void>;
  /** Stops watching; releases timers, watchers and connections. Idempotent. */
  stop(): Promise<void>;
  /** The endpoints in force: the last good state. */
  current(): readonly Endpoint[];
  /**
   * Calls `listener` after the endpoints in force changed (already debounced). Returns a function
   * that removes the listener.
   */
  onChange(listener: (endpoints: readonly Endpoint[]) => void): () => void;
  /**
   * Optional. Calls `listener` on every failure of the backend while the last good state stays in
   * force (a topology file that cannot be read, parsed or validated; a Kubernetes API call that is
   * retried), so `keyway_source_errors_total` counts each one. Not called for failures of
   * `start()`, which rejects instead. Returns a function that removes the listener.
   */
  onError?(listener: (err: Error) => void): () => void;
  status(): SourceStatus;
}
