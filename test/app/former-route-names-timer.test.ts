// The one timer of the former route names' grace (docs/xds.md "A renamed service") with a grace past
// Node's timer range (2^31 - 1 ms, about 24.8 days; formerRouteGraceMs accepts any finite value >= 0):
// Node takes such a delay as 1 ms and warns (TimeoutOverflowWarning), so the timer fired every
// millisecond, found nothing due, and was set again: a warning and a wake-up per ms for the grace.
// The delay is capped instead; the timer that fires early finds nothing due and waits again.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { xdsStage } from '../../src/app/xds-stage.js';
import { serveForReloads, topologyText } from '../serve/support.js';
import { eventually } from '../support/eventually.js';
import { XdsTestClient } from '../support/xds-client/xds-client.js';

// 30 days: past 2^31 - 1 ms.
const GRACE_MS = 30 * 24 * 3_600_000;

test('a grace longer than the timer range arms no 1 ms timer: no TimeoutOverflowWarning, the learned name stays served', async (t) => {
  const overflows: string[] = [];
  const onWarning = (w: Error): void => {
    if (w.name === 'TimeoutOverflowWarning') overflows.push(w.message);
  };
  process.on('warning', onWarning);
  t.after(() => void process.off('warning', onWarning));

  const text = topologyText({ weights: [10, 10, 10], extra: 'service: svc-b\nenvoy: {routeShape: subset}' });
  const { server, records } = await serveForReloads(t, text, { xdsPort: 0, stages: [xdsStage({ rebuildSliceMs: 0, formerRouteGraceMs: GRACE_MS })] });
  const c = new XdsTestClient({ port: server.listening.xdsPort!, node: { id: 'envoy-1', userAgentName: 'envoy', locality: { zone: 'z0' } }, protocol: 'sotw' });
  t.after(() => c.close());
  // The learned name arms the timer for its check, a grace from now.
  c.request('route', ['keyway-cache', 'svc-b']);
  let routes: string[] = [];
  for (let i = 0; i < 10 && !routes.includes('keyway-cache'); i++) {
    const r = await c.next(10_000);
    if (r.kind === 'route') routes = r.resources.map((x) => x.name).sort();
    c.ack(r.kind);
  }
  assert.deepEqual(routes, ['keyway-cache', 'svc-b'], 'the former name learned and served');
  await eventually('learned, logged', () => records.filter((r) => /asks for a route configuration no listener names/.test(r.msg)).length, { accept: (n) => n === 1 });
  // A warning is emitted on the next tick after the timer is set: let a few turns pass.
  for (let i = 0; i < 5; i++) await new Promise((done) => setImmediate(done));
  assert.deepEqual(overflows, [], 'no timer past the range (Node would fire it after 1 ms, again and again)');
});
