/**
 * The snapshot consistency rule (docs/xds-protocol.md "Snapshots and versions"): a proxy must never be told to fetch a
 * ClusterLoadAssignment or a RouteConfiguration that keyway does not serve, or it waits (Envoy
 * warming) or fails (gRPC "does not exist") on a name that never comes. The cache does not define
 * the rule itself: it is given one, the translator's `checkConsistency`, which knows the resources
 * of both proxy flavours.
 */
import type { ResourceSet } from '../resources.js';

/** A consistency check: the problems of a resource set, one sentence each; empty when consistent. */
export type ConsistencyCheck = (set: ResourceSet) => string[];
