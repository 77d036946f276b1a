/**
 * An Envoy-like xDS client for the make-before-break tests of `keyway serve` (docs/xds.md
 * "Make-before-break for stock gRPC clients", "A renamed service"): wildcard CDS and LDS, EDS for
 * every cluster it ever held, RDS for the route configuration of every listener it was ever sent (as
 * Envoy: a replaced listener drains, its connections still on its routes); ACKs every response
 * (`ackDelayMs` later). After each response it checks that the route configurations it asks for
 * name only clusters it holds with their endpoints, and lists what breaks that in `violations`.
 * `draining`: route configurations of listeners it still drains from before (an Envoy reconnected
 * after a `service` rename), asked for over RDS from its first requests on, as Envoy does on a new
 * stream for the route configurations it holds.
 */
import type { Message } from '@bufbuild/protobuf';
import { referencedNames } from '../../../src/xds/references.js';
import { XdsTestClient, type Received } from '../../support/xds-client/xds-client.js';

type HeldKind = 'cluster' | 'endpoint' | 'listener' | 'route';

export interface EnvoyLike {
  readonly held: Record<HeldKind, Set<string>>;
  readonly violations: string[];
  readonly counts: { responses: number };
  /** Each route configuration received, by name (the latest). */
  readonly routeMessages: ReadonlyMap<string, Message>;
  /** The route configuration names of the first RDS response. */
  readonly firstRoutes: readonly string[];
  clusters(): string[];
  routes(): string[];
  close(): Promise<void>;
}

export function envoyLike(port: number, id: string, protocol: 'sotw' | 'delta', opts: { zone?: string; ackDelayMs?: number; draining?: readonly string[] } = {}): EnvoyLike {
  const c = new XdsTestClient({ port, node: { id, userAgentName: 'envoy', locality: { zone: opts.zone ?? 'z0' } }, protocol });
  const held: Record<HeldKind, Set<string>> = { cluster: new Set(), endpoint: new Set(), listener: new Set(), route: new Set() };
  const routeMessages = new Map<string, Message>();
  const asked = new Set<string>(opts.draining);
  const firstRoutes: string[] = [];
  // Endpoints of every cluster ever held, never unsubscribed: a state-of-the-world EDS response
  // written before the server read a narrower request carries a name no longer asked for, which
  // the strict test client refuses (its stream ends); Envoy takes it.
  const edsNames = new Set<string>();
  const violations: string[] = [];
  let eds: string[] = [];
  let rds: string[] = [];
  let stop = false;
  const follow = (kind: 'endpoint' | 'route', want: string[], had: string[]): string[] => {
    if (want.join() === had.join()) return had;
    if (protocol === 'delta') c.delta(kind, { subscribe: want.filter((n) => !had.includes(n)), unsubscribe: had.filter((n) => !want.includes(n)) });
    else c.request(kind, want);
    return want;
  };
  const counts = { responses: 0 };
  const take = (r: Received): void => {
    counts.responses++;
    const set = held[r.kind as HeldKind];
    if (protocol === 'sotw' && (r.kind === 'cluster' || r.kind === 'listener')) set.clear();
    for (const res of r.resources) set.add(res.name);
    for (const n of r.removed) set.delete(n);
    if (r.kind === 'listener') for (const res of r.resources) for (const n of referencedNames(res.message)) asked.add(n);
    if (r.kind === 'route' && routeMessages.size === 0) firstRoutes.push(...r.resources.map((res) => res.name));
    if (r.kind === 'route') for (const res of r.resources) routeMessages.set(res.name, res.message);
    for (const name of asked) {
      const m = routeMessages.get(name);
      const missing = m ? referencedNames(m).filter((n) => !held.cluster.has(n) || !held.endpoint.has(n)) : [];
      if (missing.length > 0) violations.push(`${r.kind} ${r.version}: route ${name} names ${missing.join(' ')}`);
    }
  };
  const loop = (async () => {
    for (let i = 0; i < 10_000 && !stop; i++) {
      const r = await c.next(60_000).catch(() => undefined);
      if (!r) return;
      take(r);
      if (opts.ackDelayMs) await new Promise((done) => setTimeout(done, opts.ackDelayMs));
      c.ack(r.kind);
      if (r.kind === 'cluster') {
        for (const n of held.cluster) edsNames.add(n);
        eds = follow('endpoint', [...edsNames].sort(), eds);
      }
      if (r.kind === 'listener') rds = follow('route', [...asked].sort(), rds);
    }
  })();
  if (protocol === 'delta') {
    c.delta('cluster');
    c.delta('listener');
  } else {
    c.request('cluster');
    c.request('listener');
  }
  if (asked.size > 0) rds = follow('route', [...asked].sort(), rds);
  return {
    held,
    violations,
    counts,
    routeMessages,
    firstRoutes,
    clusters: () => [...held.cluster].sort(),
    routes: () => [...held.route].sort(),
    close: async () => {
      stop = true;
      c.close();
      await loop;
    },
  };
}
