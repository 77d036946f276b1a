// An Envoy that asks only for a former route name (docs/xds.md "A renamed service"): a listener it
// kept, static in its bootstrap or the new one rejected, names the former route configuration, so
// after a fresh keyway learns the name the Envoy holds that alias and nothing else of RDS. A
// make-before-break phase does not wait for a proxy to hold an alias; nor may it wait for this one,
// which can never hold the class's own routes: each staged change of its class would run out its
// bound and warn that proxies did not ACK, though this one ACKs everything.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { xdsStage } from '../../src/app/xds-stage.js';
import { serveForReloads, topologyText } from '../serve/support.js';
import { eventually } from '../support/eventually.js';
import { XdsTestClient } from '../support/xds-client/xds-client.js';

const STAGE = { grpcStageTimeoutMs: 3_000, changeTimeoutMs: 8_000, rebuildSliceMs: 0 };

test('table shape: an Envoy holding only a learned alias is not waited for; the staged change converges on ACKs, with no phase run out', async (t) => {
  const text = (nodes: number) => topologyText({ ready: Array.from({ length: nodes }, () => true), extra: 'service: svc-b\nenvoy: {routeShape: table}' });
  const b = await serveForReloads(t, text(3), { xdsPort: 0, stages: [xdsStage(STAGE)] });
  const c = new XdsTestClient({ port: b.server.listening.xdsPort!, node: { id: 'envoy-static', userAgentName: 'envoy', locality: { zone: 'z0' } } });
  let stop = false;
  t.after(() => {
    stop = true;
    c.close();
  });
  // Clusters and their endpoints, and the former route configuration only; ACKs every response.
  const routes = new Set<string>();
  c.request('cluster');
  c.request('route', ['keyway-cache']);
  const loop = (async () => {
    let eds: string[] = [];
    for (let i = 0; i < 500 && !stop; i++) {
      const r = await c.next(20_000).catch(() => undefined);
      if (!r) return;
      c.ack(r.kind);
      if (r.kind === 'route') for (const res of r.resources) routes.add(res.name);
      if (r.kind === 'cluster') {
        const want = [...new Set([...eds, ...r.resources.map((x) => x.name)])].sort();
        if (want.join() !== eds.join()) c.request('endpoint', (eds = want));
      }
    }
  })();
  t.after(() => loop);
  await eventually('the alias served', () => [...routes], { accept: (r) => r.join() === 'keyway-cache' });

  // A fourth node: a new cluster, so the change is staged and waits for the class's ACKs.
  await b.topo.write(text(4));
  await b.server.reload();
  const ended = await eventually('the change to end', () => b.records.filter((r) => /^xDS change /.test(r.msg)), { accept: (r) => r.length > 0, timeoutMs: 15_000 });
  assert.deepEqual(ended.map((r) => r.outcome), ['converged']);
  assert.deepEqual(b.records.filter((r) => /did not ACK the staged/.test(r.msg)).map((r) => r.msg), [], 'no phase ran out its bound');
});
