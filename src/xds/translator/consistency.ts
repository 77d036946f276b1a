/**
 * Consistency of one proxy's resource set (docs/xds-protocol.md "Snapshots and versions": every
 * EDS/RDS name is referenced by CDS/LDS): what a snapshot must satisfy before it is served, because a proxy that is sent a
 * cluster without its endpoints, or a listener without its routes, waits (warms) forever.
 */
import { isIP } from 'node:net';
import type { Cluster, ClusterLoadAssignment, Listener, RouteConfiguration, ShardAssignment } from '../proto.js';
import { connectionManagers, edsServiceName, virtualHostClusters } from '../references.js';
import { canonicalIp } from './serving.js';
import { UINT32_MAX, localityKey } from './envoy-core.js';
import { KIND_ORDER, resourcesOf, TYPE_URL, type ResourceKind, type ResourceSet, type TranslatedResource } from '../resources.js';

/**
 * Lists every inconsistency in `set`, each naming the resource; empty when the set can be served.
 * Checks: each kind holds its own message type, sorted by unique name equal to the message's own
 * name; every EDS cluster has its ClusterLoadAssignment and every assignment a cluster; every
 * listener's RDS name has its route configuration and every route configuration a listener; every
 * route's cluster (a matcher's routes included) exists; an
 * assignment's priorities run 0..n without a gap, no address:port repeats in it (Envoy would silently keep one, gRPC would reject the resource), and its summed weights fit uint32 (per locality, and a priority's locality weights); a shard
 * assignment (docs/ownership.md) is named by its shard and the shard is below its shard count.
 * `aliasRoutes`: route configurations served under a former name, which no listener of the set
 * references (docs/xds.md "A renamed service"); their routes are checked all the same.
 */
export function checkConsistency(set: ResourceSet, { aliasRoutes }: { aliasRoutes?: ReadonlySet<string> } = {}): string[] {
  const problems: string[] = [];
  for (const kind of KIND_ORDER) for (const p of checkKind(kind, resourcesOf(set, kind))) problems.push(p);
  for (const a of ofKind<ShardAssignment>('assignment', set)) {
    if (a.shard >= a.shardCount) problems.push(`assignment ${a.shard}: shard out of range [0, ${a.shardCount})`);
  }

  // Resources of the wrong type were reported above; the reference checks read only the rest.
  const clusters = ofKind<Cluster>('cluster', set);
  const assignments = ofKind<ClusterLoadAssignment>('endpoint', set);
  const listeners = ofKind<Listener>('listener', set);
  const routeConfigs = ofKind<RouteConfiguration>('route', set);

  const clusterNames = new Set(clusters.map((c) => c.name));
  const assignmentNames = new Set(assignments.map((a) => a.clusterName));
  const edsNames = new Set<string>();
  for (const c of clusters) {
    const eds = edsServiceName(c);
    if (eds === undefined) continue;
    edsNames.add(eds);
    if (!assignmentNames.has(eds)) problems.push(`cluster ${c.name}: its endpoints ${eds} are missing (the cluster would never finish warming)`);
  }
  for (const a of assignments) {
    if (!edsNames.has(a.clusterName)) problems.push(`endpoints ${a.clusterName}: no EDS cluster references them`);
    problems.push(...checkAssignment(a));
  }

  const routeConfigNames = new Set(routeConfigs.map((r) => r.name));
  const rdsNames = new Set<string>();
  for (const l of listeners) {
    const managers = connectionManagers(l);
    if (managers.length === 0) {
      problems.push(`listener ${l.name}: has no HTTP connection manager keyway can read`);
      continue;
    }
    for (const hcm of managers) {
      if (hcm.routeSpecifier.case === 'rds') {
        const name = hcm.routeSpecifier.value.routeConfigName;
        rdsNames.add(name);
        if (!routeConfigNames.has(name)) problems.push(`listener ${l.name}: its route configuration ${name} is missing`);
      } else if (hcm.routeSpecifier.case === 'routeConfig') {
        problems.push(...checkRouteTargets(hcm.routeSpecifier.value, clusterNames, `listener ${l.name} (inline routes)`));
      }
    }
  }
  for (const r of routeConfigs) {
    if (!rdsNames.has(r.name) && !aliasRoutes?.has(r.name)) problems.push(`route configuration ${r.name}: no listener references it`);
    problems.push(...checkRouteTargets(r, clusterNames, `route configuration ${r.name}`));
  }
  return problems;
}

function typeNameOf(kind: ResourceKind): string {
  return TYPE_URL[kind].slice(TYPE_URL[kind].lastIndexOf('/') + 1);
}

function ofKind<M>(kind: ResourceKind, set: ResourceSet): M[] {
  return resourcesOf(set, kind).filter((r) => r.schema.typeName === typeNameOf(kind)).map((r) => r.message as M);
}

function checkKind(kind: ResourceKind, list: readonly TranslatedResource[]): string[] {
  const problems: string[] = [];
  const typeName = typeNameOf(kind);
  list.forEach((r, i) => {
    if (r.schema.typeName !== typeName) problems.push(`${kind} ${r.name}: holds a ${r.schema.typeName}, expected ${typeName}`);
    else if (ownName(kind, r) !== r.name) problems.push(`${kind} ${r.name}: the message calls itself ${JSON.stringify(ownName(kind, r))}`);
    const prev = list[i - 1];
    if (prev !== undefined && !(prev.name < r.name)) {
      problems.push(prev.name === r.name ? `${kind} ${r.name}: listed twice` : `${kind}: ${prev.name} before ${r.name}, not sorted by name`);
    }
  });
  return problems;
}

function ownName(kind: ResourceKind, r: TranslatedResource): string {
  const m = r.message as unknown as { name?: string; clusterName?: string; shard?: number };
  if (kind === 'assignment') return String(m.shard);
  return (kind === 'endpoint' ? m.clusterName : m.name) ?? '';
}

/**
 * An assignment's own problems, once per message: messages are not changed once handed over, and
 * the translator hands back unchanged ones from one map to the next (reuse.ts).
 */
const assignmentProblems = new WeakMap<ClusterLoadAssignment, readonly string[]>();

function checkAssignment(a: ClusterLoadAssignment): readonly string[] {
  let problems = assignmentProblems.get(a);
  if (!problems) {
    problems = assignmentProblemsOf(a);
    assignmentProblems.set(a, problems);
  }
  return problems;
}

function assignmentProblemsOf(a: ClusterLoadAssignment): string[] {
  const problems: string[] = [];
  const priorities = new Set(a.endpoints.map((l) => l.priority));
  for (let p = 0; p < priorities.size; p++) {
    if (!priorities.has(p)) problems.push(`endpoints ${a.clusterName}: priorities ${[...priorities].sort((x, y) => x - y).join(',')} skip ${p}`);
  }
  // Past uint32, gRPC rejects the assignment (a priority's locality weights) and Envoy's
  // contract is broken (a locality's endpoint weights; an unset weight counts 1).
  const priorityWeight = new Map<number, number>();
  for (const locality of a.endpoints) {
    priorityWeight.set(locality.priority, (priorityWeight.get(locality.priority) ?? 0) + (locality.loadBalancingWeight ?? 0));
    const sum = locality.lbEndpoints.reduce((n, lb) => n + (lb.loadBalancingWeight ?? 1), 0);
    if (sum > UINT32_MAX) problems.push(`endpoints ${a.clusterName}: priority ${locality.priority} locality ${localityKey(localityOf(locality))} weighs ${sum} in all, above ${UINT32_MAX}`);
  }
  for (const [priority, sum] of priorityWeight) {
    if (sum > UINT32_MAX) problems.push(`endpoints ${a.clusterName}: the locality weights of priority ${priority} sum to ${sum}, above ${UINT32_MAX}`);
  }
  const seen = new Set<string>();
  for (const locality of a.endpoints) {
    for (const lb of locality.lbEndpoints) {
      if (lb.hostIdentifier.case !== 'endpoint') continue;
      const addr = lb.hostIdentifier.value.address?.address;
      if (addr?.case !== 'socketAddress') continue;
      const { address, portSpecifier } = addr.value;
      // One spelling per address: Envoy and gRPC parse `2001:DB8:0::1` and `2001:db8::1` as one host.
      // An IPv4-mapped alias stays apart from its IPv4 address, as Envoy keys them (envoy-placement.ts).
      const ip = canonicalIp(address);
      const key = `${isIP(ip) === 6 ? `[${ip}]` : ip}:${portSpecifier.case === 'portValue' ? portSpecifier.value : '?'}`;
      if (seen.has(key)) problems.push(`endpoints ${a.clusterName}: address ${key} listed twice`);
      seen.add(key);
    }
  }
  return problems;
}

function localityOf(l: ClusterLoadAssignment['endpoints'][number]): { region: string; zone: string; subzone: string } {
  return { region: l.locality?.region ?? '', zone: l.locality?.zone ?? '', subzone: l.locality?.subZone ?? '' };
}

function checkRouteTargets(r: RouteConfiguration, clusterNames: ReadonlySet<string>, where: string): string[] {
  const problems: string[] = [];
  for (const vh of r.virtualHosts) {
    for (const t of new Set(virtualHostClusters(vh))) {
      if (!clusterNames.has(t)) problems.push(`${where}: virtual host ${vh.name} routes to cluster ${t}, which is missing`);
    }
  }
  return problems;
}
