/** The snapshot cache: consistent, content-versioned snapshots per proxy class (docs/architecture.md "The pipeline"). */
export { SnapshotCache, DEFAULT_REBUILD_SLICE_MS, type BuildFn, type PrebuildFn, type SnapshotSource, type RebuildReport } from './snapshot-cache.js';
export { buildSnapshot, inconsistentSnapshot, type Snapshot, type KindSnapshot } from './snapshot.js';
export { ResourceEncoder, type EncodedResource } from './encoder.js';
export type { ConsistencyCheck } from './consistency.js';
export { referencedNames } from '../references.js';
export { contentVersion } from './version.js';
