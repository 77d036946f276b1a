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
import { xdsStage } from '../../src/app/xds-stage.js';
import { referencedNames } from '../../src/xds/references.js';
import { serveForReloads, topologyText } from '../serve/support.js';
import { eventually } from '../support/eventually.js';
import { envoyLike } from './support/envoy-like-client.js';

const STAGE = { grpcStageTimeoutMs: 5_000, changeTimeoutMs: 4_000, rebuildSliceMs: 0 };

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
      // Reconnected with that listener still draining: it asks for its routes from the first request.
      const after = envoyLike(b.server.listening.xdsPort!, 'envoy-1', protocol, { draining: held });
      t.after(() => after.close());
      // Route configurations received, by name: the clusters each names.
      const named = () => new Map([...after.routeMessages].map(([name, m]) => [name, referencedNames(m)]));
      const own = (names: string[] | undefined) => names !== undefined && names.length > 0 && names.every((n) => n === 'svc-b' || n.startsWith('svc-b/'));
      const got = await eventually('the current routes under both names', named, {
        accept: (r) => own(r.get('svc-b')) && own(r.get('keyway-cache')),
        timeoutMs: 15_000,
      });
      assert.deepEqual(got.get('keyway-cache'), got.get('svc-b'), 'the same routes under the former name');
      assert.ok([...new Set(got.get('keyway-cache'))].every((n) => after.held.cluster.has(n)), 'every cluster they name is served');
      // Learned on the turn after the request, before its hold-off ends: the first answer has it.
      assert.ok(after.firstRoutes.includes('keyway-cache'), `the first RDS answer carries the alias: ${after.firstRoutes.join()}`);
      assert.equal(b.records.filter((r) => /asks for a route configuration no listener names/.test(r.msg)).length, 1, 'learned once');
    });
  }
}
