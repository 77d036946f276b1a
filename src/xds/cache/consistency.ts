/**
 * The snapshot consistency rule (DESIGN.md "snapshot cache"): a proxy must never be told to fetch a
 * ClusterLoadAssignment or a RouteConfiguration that keyway does not serve, or it waits (Envoy
 * warming) or fails (gRPC "does not exist") on a name that never comes.
 */
import { TYPE_URL, KIND_ORDER, type ResourceSet } from '../resources.js';
import { referencedNames } from './references.js';

/** A consistency check: the problems of a resource set, one sentence each; empty when consistent. */
export type ConsistencyCheck = (set: ResourceSet) => string[];

/**
 * The built-in check: every resource's schema matches its kind, names are unique within a kind,
 * every EDS name referenced by an EDS cluster exists as a ClusterLoadAssignment, and every RDS
 * name referenced by a listener exists as a RouteConfiguration.
 */
export const defaultConsistencyCheck: ConsistencyCheck = (set) => {
  const problems: string[] = [];
  for (const kind of KIND_ORDER) {
    const seen = new Set<string>();
    for (const r of set[kind]) {
      const typeUrl = `type.googleapis.com/${r.schema.typeName}`;
      if (typeUrl !== TYPE_URL[kind]) problems.push(`${kind} "${r.name}" is a ${r.schema.typeName}`);
      if (seen.has(r.name)) problems.push(`${kind} "${r.name}" is defined twice`);
      seen.add(r.name);
    }
  }
  const endpoints = new Set(set.endpoint.map((r) => r.name));
  const routes = new Set(set.route.map((r) => r.name));
  for (const c of set.cluster) {
    for (const name of referencedNames(c.message)) {
      if (!endpoints.has(name)) problems.push(`cluster "${c.name}" uses EDS name "${name}", which has no ClusterLoadAssignment`);
    }
  }
  for (const l of set.listener) {
    for (const name of referencedNames(l.message)) {
      if (!routes.has(name)) problems.push(`listener "${l.name}" uses RDS name "${name}", which has no RouteConfiguration`);
    }
  }
  return problems;
};
