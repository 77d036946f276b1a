// keyway serve drops a former route name no proxy asks for any more (docs/xds.md "A renamed
// service"), the grace after its last RDS subscriber let go: a client that is not gRPC (so taken
// for an Envoy) asking for made-up route names no longer holds the bound's slots for the life of
// the process, and a genuine former name is served once they are dropped. A name still asked for,
// and a rename's name while a stream holds it, is kept. The grace is injected (a few hundred ms);
// assertions are on the routes received and the log lines, never on time.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { xdsStage } from '../../src/app/xds-stage.js';
import { MAX_FORMER_ROUTE_NAMES } from '../../src/app/former-route-names.js';
import { serveForReloads, topologyText } from '../serve/support.js';
import { eventually } from '../support/eventually.js';
import { XdsTestClient } from '../support/xds-client/xds-client.js';

const STAGE = { grpcStageTimeoutMs: 5_000, changeTimeoutMs: 4_000, rebuildSliceMs: 0, formerRouteGraceMs: 300 };
const text = (svc: string) => topologyText({ weights: [10, 10, 10], extra: `service: ${svc}\nenvoy: {routeShape: subset}` });

interface RouteWatcher {
  /** The route configuration names of the latest RDS response. */
  latest(): readonly string[];
  close(): Promise<void>;
}

/** A SotW stream that asks RDS for `names` and ACKs every answer (as an Envoy's listeners would). */
function routeWatcher(port: number, id: string, names: readonly string[], userAgentName = 'envoy'): RouteWatcher {
  const c = new XdsTestClient({ port, node: { id, userAgentName, locality: { zone: 'z0' } }, protocol: 'sotw' });
  let latest: readonly string[] = [];
  let stop = false;
  const loop = (async () => {
    for (let i = 0; i < 1_000 && !stop; i++) {
      const r = await c.next(60_000).catch(() => undefined);
      if (!r) return;
      if (r.kind === 'route') latest = r.resources.map((x) => x.name).sort();
      c.ack(r.kind);
    }
  })();
  c.request('route', names);
  return {
    latest: () => latest,
    close: async () => {
      stop = true;
      c.close();
      await loop;
    },
  };
}

const msgs = (records: { msg: string }[], re: RegExp) => records.filter((r) => re.test(r.msg));
const DROPPED = /no proxy has subscribed to it for the grace/;

test("a hostile client's made-up route names are dropped once it is gone and the grace passed; the genuine former name is then served, and kept while asked for", async (t) => {
  const { server, records } = await serveForReloads(t, text('svc-b'), { xdsPort: 0, stages: [xdsStage(STAGE)] });
  const port = server.listening.xdsPort!;
  const dropped = () => msgs(records, DROPPED).map((r) => (r as unknown as { routeConfiguration: string }).routeConfiguration);

  const made = Array.from({ length: MAX_FORMER_ROUTE_NAMES }, (_, i) => `made-up-${i}`);
  const hostile = routeWatcher(port, 'not-an-envoy', ['svc-b', ...made], 'curl');
  t.after(() => hostile.close());
  await eventually('the made-up names served', hostile.latest, { accept: (l) => l.length === MAX_FORMER_ROUTE_NAMES + 1 });

  // The Envoy still draining the listener of keyway-cache: refused, the bound is full.
  const genuine = routeWatcher(port, 'envoy-1', ['keyway-cache', 'svc-b']);
  t.after(() => genuine.close());
  await eventually('the refusal', () => msgs(records, /as many former names as the limit/).length, { accept: (n) => n === 1 });
  await eventually('the routes in force only', genuine.latest, { accept: (l) => l.join() === 'svc-b' });

  await hostile.close();
  // Its names dropped after the grace, and the name the genuine Envoy still asks for served in their place.
  const got = await eventually('keyway-cache served to the genuine Envoy', genuine.latest, { accept: (l) => l.includes('keyway-cache'), timeoutMs: 15_000 });
  assert.deepEqual(got, ['keyway-cache', 'svc-b']);
  assert.deepEqual(dropped().sort(), made);

  // A name still asked for is never dropped: a probe name learned after it, released and dropped
  // (more than a grace after keyway-cache was learned), while keyway-cache stays.
  const probe = routeWatcher(port, 'envoy-probe', ['probe-x', 'svc-b']);
  await eventually('probe-x learned', probe.latest, { accept: (l) => l.includes('probe-x') });
  await probe.close();
  await eventually('probe-x dropped', dropped, { accept: (d) => d.includes('probe-x'), timeoutMs: 15_000 });
  assert.equal(dropped().includes('keyway-cache'), false, 'keyway-cache is still asked for');
  assert.deepEqual(genuine.latest(), ['keyway-cache', 'svc-b']);
});

test("a rename's former name survives the grace while a stream holds it, and goes the grace after the last lets go", async (t) => {
  const { server, topo, records } = await serveForReloads(t, text('keyway-cache'), { xdsPort: 0, stages: [xdsStage(STAGE)] });
  const port = server.listening.xdsPort!;
  const dropped = () => msgs(records, DROPPED).map((r) => (r as unknown as { routeConfiguration: string }).routeConfiguration);
  // An Envoy whose draining listener keeps asking for keyway-cache.
  const draining = routeWatcher(port, 'envoy-1', ['keyway-cache']);
  t.after(() => draining.close());
  await eventually('keyway-cache', draining.latest, { accept: (l) => l.join() === 'keyway-cache' });
  await topo.write(text('svc-b'));
  await server.reload();

  // The rename's check is due before the probe's drop: by then keyway-cache was held past the grace.
  const probe = routeWatcher(port, 'envoy-probe', ['probe-x', 'svc-b']);
  await eventually('probe-x learned', probe.latest, { accept: (l) => l.includes('probe-x') && l.includes('svc-b') });
  await probe.close();
  await eventually('probe-x dropped', dropped, { accept: (d) => d.includes('probe-x'), timeoutMs: 15_000 });
  assert.deepEqual(dropped(), ['probe-x'], 'keyway-cache kept while a stream holds it');
  assert.deepEqual(draining.latest(), ['keyway-cache']);

  await draining.close();
  await eventually('keyway-cache dropped', dropped, { accept: (d) => d.includes('keyway-cache'), timeoutMs: 15_000 });
});
