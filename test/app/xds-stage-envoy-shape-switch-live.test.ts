// keyway serve with Envoy-like xDS clients (state of the world and delta) through reloads that
// switch `envoy.routeShape` and rename `service`: every make-before-break change completes on the
// clients' ACKs (no phase runs out its bound, no change times out), and no client is ever sent a
// route configuration naming a cluster it does not hold with its endpoints (docs/xds.md
// "Make-before-break for stock gRPC clients", "Route shape").
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { xdsStage } from '../../src/app/xds-stage.js';
import { serveForReloads, topologyText, type LogRecord } from '../serve/support.js';
import { eventually } from '../support/eventually.js';
import { envoyLike } from './support/envoy-like-client.js';

const STAGE = { grpcStageTimeoutMs: 5_000, changeTimeoutMs: 4_000, rebuildSliceMs: 0 };

/** The outcomes of the changes logged so far, and the phases that ran out their bound. */
function outcomes(records: readonly LogRecord[]): { changes: unknown[]; late: unknown[] } {
  return {
    changes: records.filter((r) => /^xDS change /.test(r.msg)).map((r) => r.outcome),
    late: records.filter((r) => /did not ACK the staged/.test(r.msg)).map((r) => r.proxyClass),
  };
}

for (const protocol of ['sotw', 'delta'] as const) {
  test(`Envoy over ${protocol}: subset -> table -> renamed subset, each change converged on its ACKs`, async (t) => {
    let service = 'keyway-cache';
    const text = (shape: string, svc: string) => topologyText({ weights: [10, 10, 10], extra: `service: ${svc}\nenvoy: {routeShape: ${shape}}` });
    const { server, topo, records } = await serveForReloads(t, text('subset', service), { xdsPort: 0, stages: [xdsStage(STAGE)] });
    const e = envoyLike(server.listening.xdsPort!, `envoy-${protocol}`, protocol);
    t.after(() => e.close());
    await eventually('the subset cluster and its routes', () => [e.clusters().join(), e.held.route.size], { accept: ([c, r]) => c === 'keyway-cache' && r === 1 });

    await topo.write(text('table', service));
    await server.reload();
    await eventually('the table clusters alone', e.clusters, { accept: (c) => c.length === 3 && c.every((n) => n.startsWith('keyway-cache/node/')), timeoutMs: 15_000 });
    service = 'svc-b';
    await topo.write(text('subset', service));
    await server.reload();
    await eventually('the renamed subset cluster alone', e.clusters, { accept: (c) => c.join() === 'svc-b', timeoutMs: 15_000 });
    const ended = await eventually('both changes to end', () => outcomes(records), { accept: (o) => o.changes.length >= 2 });
    assert.deepEqual(ended, { changes: ['converged', 'converged'], late: [] });
    assert.deepEqual(e.violations, []);
    // The replaced listener's route configuration is the new one under the former name (an alias).
    assert.deepEqual([...e.held.route].sort(), ['keyway-cache', 'svc-b']);
  });

  test(`slow Envoys of two zones over ${protocol}: switches that split the class by zone, with ownership changes mid-switch`, async (t) => {
    const text = (shape: string, replicas: number, w: number[]) => topologyText({ replicas, ready: [true, true, true, true], weights: w, extra: `envoy: {routeShape: ${shape}}` });
    const { server, topo, records } = await serveForReloads(t, text('table', 2, [10, 10, 10, 10]), { xdsPort: 0, stages: [xdsStage(STAGE)] });
    const port = server.listening.xdsPort!;
    const es = ['z0', 'z1'].map((zone) => envoyLike(port, `envoy-${zone}-${protocol}`, protocol, { zone, ackDelayMs: 50 }));
    t.after(() => Promise.all(es.map((e) => e.close())));
    for (const e of es) await eventually('the route table', () => [e.clusters().length, e.held.route.size, e.held.endpoint.size].join(), { accept: (v) => v === '4,1,4' });

    // Each reload lands while the one before is still being staged (every ACK comes 50 ms late).
    const steps: [string, number, number[]][] = [
      ['subset', 3, [10, 10, 10, 20]],
      ['subset', 3, [10, 10, 20, 20]],
      ['table', 2, [10, 20, 20, 20]],
      ['subset', 2, [20, 20, 20, 30]],
    ];
    for (const [shape, replicas, w] of steps) {
      const before = es.map((e) => e.counts.responses);
      await topo.write(text(shape, replicas, w));
      await server.reload();
      await eventually('the reload to reach every Envoy', () => es.every((e, i) => e.counts.responses > before[i]!));
    }
    for (const e of es) await eventually('the subset cluster alone', e.clusters, { accept: (c) => c.join() === 'keyway-cache', timeoutMs: 20_000 });
    const ended = await eventually('the last change to end', () => outcomes(records), { accept: (o) => o.changes.at(-1) === 'converged' || o.changes.includes('timeout') });
    assert.ok(!ended.changes.includes('timeout'), `no change timed out: ${ended.changes.join(', ')}`);
    assert.deepEqual(ended.late, [], 'no phase ran out its bound');
    for (const e of es) assert.deepEqual(e.violations, []);
  });
}
