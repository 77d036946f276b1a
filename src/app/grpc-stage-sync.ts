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
import type { EncodedResource, Snapshot } from '../xds/cache/index.js';
import type { ResourceKind } from '../xds/resources.js';
import type { XdsServer } from '../xds/server/index.js';

const STAGED_KINDS: readonly ResourceKind[] = ['cluster', 'endpoint', 'route'];

/**
 * Is every proxy of class `classKey` in sync with its snapshot? (Vacuously true without one.)
 * `aliasRoute`: is route configuration `name` of `snapshot` served under a former name
 * (former-route-names.ts)? Only an Envoy still draining a listener of that name asks for it: not
 * waited for. Judged per snapshot, not by the name in force: a phase staged from the set before a
 * rename back serves the name in force as the alias and the former one as the listener's routes.
 */
export function grpcClassSynced(
  server: Pick<XdsServer, 'heldByClass'>,
  cache: { classes(): readonly { classKey: string; snapshot: Snapshot | undefined }[] },
  classKey: string,
  aliasRoute: (name: string, snapshot: Snapshot) => boolean = () => false,
): boolean {
  const snapshot = cache.classes().find((c) => c.classKey === classKey)?.snapshot;
  if (!snapshot) return true;
  // Clients of a class served the same selection hold the same map object (SotW shares them), so
  // each map is compared with the snapshot once per check, not once per client.
  const holdsAll = new Map<ResourceKind, Map<ReadonlyMap<string, EncodedResource>, boolean>>(STAGED_KINDS.map((k) => [k, new Map()]));
  for (const held of server.heldByClass(classKey)) {
    // Holding no route configuration of ours (it dials another service, or has not got that far):
    // it routes no call through this change, so it is not waited for.
    if (!held('route')?.sent.size) continue;
    for (const kind of STAGED_KINDS) {
      const h = held(kind);
      if (h?.status !== 'SYNCED') return false;
      const known = holdsAll.get(kind)!;
      let all = known.get(h.sent);
      if (all === undefined) {
        all = true;
        for (const [name, r] of snapshot.kinds[kind].resources) {
          if (kind === 'route' && aliasRoute(name, snapshot)) continue;
          if (h.sent.get(name)?.version !== r.version) {
            all = false;
            break;
          }
        }
        known.set(h.sent, all);
      }
      if (!all) return false;
    }
  }
  return true;
}

const listened = new WeakMap<Snapshot, ReadonlySet<string>>();

/**
 * The route configurations the listeners of `snapshot` name (RDS): those an Envoy of the class asks
 * for through the listeners it is served; any other route configuration of an Envoy snapshot is an
 * alias (docs/xds.md "A renamed service"), which make-before-break does not wait for. Kept per
 * snapshot: a phase checks it on every ACK.
 */
export function listenedRoutes(snapshot: Snapshot): ReadonlySet<string> {
  let names = listened.get(snapshot);
  if (!names) listened.set(snapshot, (names = new Set([...snapshot.kinds.listener.resources.values()].flatMap((l) => l.references))));
  return names;
}
