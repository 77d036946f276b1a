// keyway serve with an Envoy-like xDS client through a `service` rename and a rename back (docs/xds.md
// "A renamed service"): the client asks only for the route configuration of its listener (an Envoy
// that connected after the first rename, or whose draining listener is gone), so the alias is
// never its to hold, and every make-before-break phase still ends on its ACKs: no phase runs out
// its bound and each change converges. The same for the rename past MAX_FORMER_ROUTE_NAMES, whose
// staged phase still carries the alias that rename drops.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MAX_FORMER_ROUTE_NAMES } from '../../src/app/former-route-names.js';
import { xdsStage } from '../../src/app/xds-stage.js';
import { serveForReloads, topologyText, type LogRecord } from '../serve/support.js';
import { eventually } from '../support/eventually.js';
import { envoyLike } from './support/envoy-like-client.js';

const STAGE = { grpcStageTimeoutMs: 5_000, changeTimeoutMs: 4_000, rebuildSliceMs: 0 };

function outcomes(records: readonly LogRecord[]): { changes: unknown[]; late: unknown[] } {
  return {
    changes: records.filter((r) => /^xDS change /.test(r.msg)).map((r) => r.outcome),
    late: records.filter((r) => /did not ACK the staged/.test(r.msg)).map((r) => r.proxyClass),
  };
}

for (const shape of ['subset', 'table'] as const) {
  for (const protocol of ['sotw', 'delta'] as const) {
    test(`${shape} shape over ${protocol}: a rename, then a rename back seen by an Envoy that connected after the first; each change converges on its ACKs`, async (t) => {
      let service = 'keyway-cache';
      const text = (svc: string) => topologyText({ weights: [10, 10, 10], extra: `service: ${svc}\nenvoy: {routeShape: ${shape}}` });
      const { server, topo, records } = await serveForReloads(t, text(service), { xdsPort: 0, stages: [xdsStage(STAGE)] });
      const port = server.listening.xdsPort!;
      const own = (svc: string) => (c: string[]) => c.length > 0 && c.every((n) => n === svc || n.startsWith(`${svc}/`));
      const e1 = envoyLike(port, 'envoy-1', 'sotw');
      t.after(() => e1.close());
      await eventually('the first clusters', e1.clusters, { accept: own(service) });
      service = 'svc-b';
      await topo.write(text(service));
      await server.reload();
      await eventually(`the clusters of ${service}`, e1.clusters, { accept: own(service), timeoutMs: 15_000 });
      await eventually('the rename to end', () => outcomes(records), { accept: (o) => o.changes.length >= 1, timeoutMs: 15_000 });
      await e1.close();

      // Connected after the rename: its only listener is svc-b's; keyway-cache is served as an alias it never asks for.
      const e2 = envoyLike(port, 'envoy-2', protocol);
      t.after(() => e2.close());
      await eventually('the clusters and routes of svc-b', () => ({ c: e2.clusters(), r: e2.routes() }), { accept: ({ c, r }) => own(service)(c) && r.join() === service });
      service = 'keyway-cache';
      await topo.write(text(service));
      await server.reload();
      await eventually(`the clusters of ${service}`, e2.clusters, { accept: own(service), timeoutMs: 15_000 });
      const ended = await eventually('the rename back to end', () => outcomes(records), { accept: (o) => o.changes.length >= 2, timeoutMs: 15_000 });
      assert.deepEqual(ended, { changes: ['converged', 'converged'], late: [] });
    });
  }
}

test(`subset shape: the rename past ${MAX_FORMER_ROUTE_NAMES} former names, with its view built ahead, converges on its ACKs`, async (t) => {
  const text = (svc: string) => topologyText({ weights: [10, 10, 10], extra: `service: ${svc}\nenvoy: {routeShape: subset}` });
  const names = Array.from({ length: MAX_FORMER_ROUTE_NAMES + 2 }, (_, i) => `svc-${i}`);
  const { server, topo, records } = await serveForReloads(t, text(names[0]!), { xdsPort: 0, stages: [xdsStage(STAGE)] });
  const own = (svc: string) => (c: string[]) => c.join() === svc;
  // No proxy yet: each rename only records a former name.
  const pushed = () => records.filter((r) => /^shard map published/.test(r.msg)).length;
  for (const svc of names.slice(1, -1)) {
    const n = pushed();
    await topo.write(text(svc));
    await server.reload();
    await eventually(`the rename to ${svc} published`, pushed, { accept: (m) => m > n });
  }
  for (let i = 0; i < 3; i++) await new Promise((done) => setImmediate(done)); // served on a later turn
  const current = names.at(-2)!;
  const e = envoyLike(server.listening.xdsPort!, 'envoy-late', 'sotw');
  t.after(() => e.close());
  await eventually(`the clusters and routes of ${current}`, () => ({ c: e.clusters(), r: e.routes() }), { accept: ({ c, r }) => own(current)(c) && r.join() === current, timeoutMs: 15_000 });
  const before = outcomes(records).changes.length;
  const last = names.at(-1)!;
  await topo.write(text(last));
  await server.reload();
  await eventually(`the clusters of ${last}`, e.clusters, { accept: own(last), timeoutMs: 15_000 });
  const ended = await eventually('the last rename to end', () => outcomes(records), { accept: (o) => o.changes.length > before, timeoutMs: 15_000 });
  assert.deepEqual({ changes: ended.changes.slice(before), late: ended.late }, { changes: ['converged'], late: [] });
});
