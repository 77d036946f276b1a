/** The snapshot cache: consistent, content-versioned snapshots per proxy class (docs/architecture.md "The pipeline"). */
export {
  SnapshotCache,
  DEFAULT_GRPC_CLASS_WARNING,
  type BuildFn,
  type SnapshotListener,
  type SnapshotSource,
  type SnapshotCacheOptions,
  type RebuildReport,
  type ClassStatus,
} from './snapshot-cache.js';
export { buildSnapshot, changedKinds, inconsistentSnapshot, type Snapshot, type KindSnapshot } from './snapshot.js';
export { ResourceEncoder, type EncodedResource } from './encoder.js';
export type { ConsistencyCheck } from './consistency.js';
export { referencedNames } from '../references.js';
export { contentVersion, kindVersion } from './version.js';
