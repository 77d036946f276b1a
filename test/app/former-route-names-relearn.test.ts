// A former route name dropped after its grace (docs/xds.md "A renamed service") and then asked for
// again, by an Envoy reconnecting with that listener still draining: learned again, and in its first
// RDS answer, as a name never served is (former-route-names-restart.test.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { xdsStage } from '../../src/app/xds-stage.js';
import { serveForReloads, topologyText } from '../serve/support.js';
import { eventually } from '../support/eventually.js';
import { envoyLike } from './support/envoy-like-client.js';

const STAGE = { grpcStageTimeoutMs: 5_000, changeTimeoutMs: 4_000, rebuildSliceMs: 0, formerRouteGraceMs: 200 };
const DROPPED = /no proxy has subscribed to it for the grace/;
const LEARNED = /asks for a route configuration no listener names/;

for (const protocol of ['sotw', 'delta'] as const) {
  test(`over ${protocol}: a former name dropped and asked for again is learned again, in the first RDS answer`, async (t) => {
    const text = topologyText({ weights: [10, 10, 10], extra: 'service: svc-b\nenvoy: {routeShape: subset}' });
    const { server, records } = await serveForReloads(t, text, { xdsPort: 0, stages: [xdsStage(STAGE)] });
    const port = server.listening.xdsPort!;
    const first = envoyLike(port, 'envoy-1', protocol, { draining: ['keyway-cache'] });
    t.after(() => first.close());
    await eventually('the alias', first.routes, { accept: (r) => r.join() === 'keyway-cache,svc-b', timeoutMs: 15_000 });
    await first.close();
    await eventually('keyway-cache dropped', () => records.filter((r) => DROPPED.test(r.msg)).length, { accept: (n) => n === 1, timeoutMs: 15_000 });

    const again = envoyLike(port, 'envoy-1', protocol, { draining: ['keyway-cache'] });
    t.after(() => again.close());
    await eventually('the alias again', again.routes, { accept: (r) => r.join() === 'keyway-cache,svc-b', timeoutMs: 15_000 });
    assert.ok(again.firstRoutes.includes('keyway-cache'), `the first RDS answer carries the alias: ${again.firstRoutes.join()}`);
    assert.equal(records.filter((r) => LEARNED.test(r.msg)).length, 2, 'learned twice');
  });
}
