/**
 * When a make-before-break phase may end (docs/xds.md "Make-before-break for stock gRPC clients"):
 * every gRPC client of the class holds, at the snapshot's versions, every cluster, endpoint
 * assignment and route configuration of the class's current snapshot, and ACKed the latest
 * response of each of those kinds. Holding every cluster is what the staging routes are for: a
 * gRPC client subscribes to every cluster its routes name, and to the endpoints of each. A client
 * that holds none of the class's route configurations is not waited for. Envoy classes with the
 * route-table shape are staged the same way (Envoy subscribes to every cluster by itself); the
 * class key names the flavor.
 */
import type { Snapshot } from '../xds/cache/index.js';
import type { ResourceKind } from '../xds/resources.js';
import type { XdsServer } from '../xds/server/index.js';

const STAGED_KINDS: readonly ResourceKind[] = ['cluster', 'endpoint', 'route'];

/** Is every proxy of class `classKey` in sync with its snapshot? (Vacuously true without one.) */
export function grpcClassSynced(
  server: Pick<XdsServer, 'proxies' | 'sentResources'>,
  cache: { classes(): readonly { classKey: string; snapshot: Snapshot | undefined }[] },
  classKey: string,
): boolean {
  const snapshot = cache.classes().find((c) => c.classKey === classKey)?.snapshot;
  if (!snapshot) return true;
  for (const row of server.proxies({ namesShown: 0 })) {
    if (row.proxyClass !== classKey) continue;
    const held = server.sentResources(row.id);
    // Gone since the row was read, or holding no route configuration of ours (it dials another
    // service, or has not got that far): it routes no call through this change, so it is not waited for.
    if (!held || held.route.length === 0) continue;
    for (const kind of STAGED_KINDS) {
      if (row.types[kind]?.status !== 'SYNCED') return false;
      const versions = new Map(held[kind].map((r) => [r.name, r.version] as const));
      for (const [name, r] of snapshot.kinds[kind].resources) if (versions.get(name) !== r.version) return false;
    }
  }
  return true;
}
