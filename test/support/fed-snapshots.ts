/** A LoadSnapshotReader that tests write load snapshots into (docs/hot-shards.md). */
import type { LoadSnapshot, LoadSnapshotReader } from '../../src/core/load.js';

export class FedSnapshots implements LoadSnapshotReader {
  #snapshots: readonly LoadSnapshot[] = [];
  readonly #listeners = new Set<() => void>();

  latest(): readonly LoadSnapshot[] {
    return this.#snapshots;
  }

  onChange(listener: () => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Replaces the snapshots in force and tells the listeners. */
  feed(snapshots: readonly LoadSnapshot[]): void {
    this.#snapshots = snapshots;
    for (const l of this.#listeners) l();
  }
}
