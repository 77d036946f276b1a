// A `service` rename that comes with a new keyway process (docs/xds.md "A renamed service"): in
// Kubernetes a ConfigMap change rolls the Deployment, so the keyway that serves the new name never
// served the old one. Envoy reconnects, and its draining listener (named after the old service)
// asks for the old route configuration again: the new keyway must serve its current routes under
// that name, or the connections still on that listener keep routes to a cluster the rename removed.
// keyway A serves `keyway-cache`; an Envoy-like client takes its listener's route name from it;
// then a fresh keyway B is started with `svc-b`, and a client that reconnects to B with that
// listener still draining asks for both route names.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Message } from '@bufbuild/protobuf';
import { xdsStage } from '../../src/app/xds-stage.js';
import { referencedNames } from '../../src/xds/references.js';
import { serveForReloads, topologyText } from '../serve/support.js';
import { eventually } from '../support/eventually.js';
import { XdsTestClient } from '../support/xds-client/xds-client.js';
import { envoyLike } from './support/envoy-like-client.js';

const STAGE = { grpcStageTimeoutMs: 5_000, changeTimeoutMs: 4_000, rebuildSliceMs: 0 };

interface Reconnected {
  /** Route configurations received, by name: the clusters each names. */
  readonly routes: Map<string, string[]>;
  /** The names of the first RDS response. */
  readonly firstRoutes: string[];
  readonly clusters: Set<string>;
  close(): Promise<void>;
}

/**
 * An Envoy reconnecting with a listener still draining: wildcard CDS and LDS, RDS for `draining`
 * and for every route configuration its listeners name, from its first request on, EDS for every
 * cluster it holds; ACKs every response.
 */
function reconnectingEnvoy(port: number, id: string, protocol: 'sotw' | 'delta', draining: readonly string[]): Reconnected {
  const c = new XdsTestClient({ port, node: { id, userAgentName: 'envoy', locality: { zone: 'z0' } }, protocol });
  const routes = new Map<string, string[]>();
  const firstRoutes: string[] = [];
  const clusters = new Set<string>();
  const asked = new Set(draining);
  const eds = new Set<string>();
  let rds: string[] = [];
  let edsAsked: string[] = [];
  let stop = false;
  const follow = (kind: 'endpoint' | 'route', want: string[], had: string[]): string[] => {
    if (want.join() === had.join()) return had;
    if (protocol === 'delta') c.delta(kind, { subscribe: want.filter((n) => !had.includes(n)), unsubscribe: had.filter((n) => !want.includes(n)) });
    else c.request(kind, want);
    return want;
  };
  const loop = (async () => {
    for (let i = 0; i < 1_000 && !stop; i++) {
      const r = await c.next(60_000).catch(() => undefined);
      if (!r) return;
      if (r.kind === 'cluster') {
        if (protocol === 'sotw') clusters.clear();
        for (const res of r.resources) clusters.add(res.name);
        for (const n of r.removed) clusters.delete(n);
      }
      if (r.kind === 'listener') for (const res of r.resources) for (const n of referencedNames(res.message)) asked.add(n);
      if (r.kind === 'route' && routes.size === 0) firstRoutes.push(...r.resources.map((res) => res.name));
      if (r.kind === 'route') for (const res of r.resources) routes.set(res.name, referencedNames(res.message as Message));
      c.ack(r.kind);
      if (r.kind === 'cluster') {
        for (const n of clusters) eds.add(n);
        edsAsked = follow('endpoint', [...eds].sort(), edsAsked);
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
  // As Envoy on a new stream: the route configurations it holds are asked at once.
  rds = follow('route', [...asked].sort(), rds);
  return {
    routes,
    firstRoutes,
    clusters,
    close: async () => {
      stop = true;
      c.close();
      await loop;
    },
  };
}

for (const shape of ['subset', 'table'] as const) {
  for (const protocol of ['sotw', 'delta'] as const) {
    test(`${shape} shape over ${protocol}: a fresh keyway started with the new service serves its routes under the route name a reconnected Envoy still drains`, async (t) => {
      const text = (svc: string) => topologyText({ weights: [10, 10, 10], extra: `service: ${svc}\nenvoy: {routeShape: ${shape}}` });
      const a = await serveForReloads(t, text('keyway-cache'), { xdsPort: 0, stages: [xdsStage(STAGE)] });
      const before = envoyLike(a.server.listening.xdsPort!, 'envoy-1', protocol);
      t.after(() => before.close());
      const held = await eventually('the routes of keyway-cache', before.routes, { accept: (r) => r.join() === 'keyway-cache' });
      await before.close();

      // The rename rolled keyway: B never served keyway-cache.
      const b = await serveForReloads(t, text('svc-b'), { xdsPort: 0, stages: [xdsStage(STAGE)] });
      const after = reconnectingEnvoy(b.server.listening.xdsPort!, 'envoy-1', protocol, held);
      t.after(() => after.close());
      const own = (names: string[] | undefined) => names !== undefined && names.length > 0 && names.every((n) => n === 'svc-b' || n.startsWith('svc-b/'));
      const got = await eventually('the current routes under both names', () => after.routes, {
        accept: (r) => own(r.get('svc-b')) && own(r.get('keyway-cache')),
        timeoutMs: 15_000,
      });
      assert.deepEqual(got.get('keyway-cache'), got.get('svc-b'), 'the same routes under the former name');
      assert.ok([...new Set(got.get('keyway-cache'))].every((n) => after.clusters.has(n)), 'every cluster they name is served');
      // Learned on the turn after the request, before its hold-off ends: the first answer has it.
      assert.ok(after.firstRoutes.includes('keyway-cache'), `the first RDS answer carries the alias: ${after.firstRoutes.join()}`);
      assert.equal(b.records.filter((r) => /asks for a route configuration no listener names/.test(r.msg)).length, 1, 'learned once');
    });
  }
}
