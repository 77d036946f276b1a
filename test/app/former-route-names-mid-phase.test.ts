// A former route name learned while a make-before-break phase is in progress (docs/xds.md "A renamed
// service"): a fresh keyway with the route-table shape stages every change of owners, and the phase's
// routes are those of the set before the change, which lacks an alias learned since. The Envoy that
// reconnects mid-phase, still draining a listener of the former name, must get routes under that name
// in its first RDS answer (over delta, not "removed"), naming clusters the phase serves; not once the
// phase ends (the slowest client's ACK, up to the stage bound), its draining connections failing 503
// meanwhile on routes to clusters the fresh keyway no longer serves.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Message } from '@bufbuild/protobuf';
import { xdsStage } from '../../src/app/xds-stage.js';
import { referencedNames } from '../../src/xds/references.js';
import { serveForReloads, topologyText } from '../serve/support.js';
import { eventually } from '../support/eventually.js';
import { XdsTestClient, type Received } from '../support/xds-client/xds-client.js';
import { envoyLike } from './support/envoy-like-client.js';

// The slow client holds each phase for ACK_DELAY_MS: far longer than the reconnected Envoy's first answers.
const ACK_DELAY_MS = 2_000;
const STAGE = { grpcStageTimeoutMs: 10_000, changeTimeoutMs: 15_000, rebuildSliceMs: 0 };

for (const protocol of ['sotw', 'delta'] as const) {
  test(`table shape over ${protocol}: a former route name learned mid-phase is in the first RDS answer, with routes to clusters the phase serves`, async (t) => {
    const text = (nodes: number) => topologyText({ ready: Array.from({ length: nodes }, () => true), extra: 'service: svc-b\nenvoy: {routeShape: table}' });
    const b = await serveForReloads(t, text(3), { xdsPort: 0, stages: [xdsStage(STAGE)] });
    const port = b.server.listening.xdsPort!;
    const slow = envoyLike(port, 'envoy-slow', 'sotw', { ackDelayMs: ACK_DELAY_MS });
    t.after(() => slow.close());
    await eventually('the slow client routes', slow.routes, { accept: (r) => r.join() === 'svc-b', timeoutMs: 15_000 });
    await eventually('the slow client in sync', () => slow.counts.responses, { accept: (n) => n >= 4, timeoutMs: 15_000 });
    const pushes = () => b.records.filter((r) => r.msg === 'xDS snapshots pushed').length;
    const before = pushes();
    // A fourth node: a new cluster, so the change is staged (`add` first) and waits for the slow ACKs.
    await b.topo.write(text(4));
    await b.server.reload();
    await eventually('the staged change pushed', pushes, { accept: (n) => n > before });
    const converged = () => b.records.some((r) => r.msg === 'xDS change converged');

    // Reconnected after the rollout, its listener of keyway-cache still draining.
    const c = new XdsTestClient({ port, node: { id: 'envoy-back', userAgentName: 'envoy', locality: { zone: 'z0' } }, protocol });
    t.after(() => c.close());
    if (protocol === 'delta') {
      c.delta('cluster');
      c.delta('listener');
      c.delta('route', { subscribe: ['keyway-cache'] });
    } else {
      c.request('cluster');
      c.request('listener');
      c.request('route', ['keyway-cache']);
    }
    const clusters = new Set<string>();
    let first: Received | undefined;
    for (let i = 0; i < 10 && !first; i++) {
      const r = await c.next(5_000).catch(() => undefined);
      if (!r) break;
      if (r.kind === 'cluster') for (const res of r.resources) clusters.add(res.name);
      if (r.kind === 'route') first = r;
      c.ack(r.kind);
      // As Envoy: the routes of the listener it is sent too.
      if (r.kind === 'listener' && protocol === 'delta') c.delta('route', { subscribe: ['svc-b'] });
      else if (r.kind === 'listener') c.request('route', ['keyway-cache', 'svc-b']);
    }
    assert.ok(first, 'an RDS answer');
    assert.equal(converged(), false, 'the premise: the staged change is still waiting for the slow client');
    assert.deepEqual(first.removed, [], 'not told the former name does not exist');
    const alias = first.resources.find((r) => r.name === 'keyway-cache');
    assert.ok(alias, `the first RDS answer carries the alias: ${first.resources.map((r) => r.name).join()}`);
    const named = [...new Set(referencedNames(alias.message as Message))];
    assert.ok(named.length > 0 && named.every((n) => clusters.has(n)), `its routes name only clusters the phase serves: ${named.join()}`);
    await eventually('the change to end', converged, { timeoutMs: 15_000 });
    assert.deepEqual(slow.violations, []);
  });
}
