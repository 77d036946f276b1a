/**
 * Make-before-break under a topology that changes faster than a change completes (src/app/grpc-stager.ts;
 * docs/xds.md "Make-before-break for stock gRPC clients"): one gRPC client that never ACKs keeps every
 * phase waiting for its bound (5 s by default), and some fleets change every few seconds. Each
 * change starts from the staged set in force; what it keeps of it must be what clients may still
 * route to, not every cluster of every change since the last one that completed.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import type { ResourceSet } from '../../src/xds/resources.js';
import { checkConsistency } from '../../src/xds/translator/index.js';
import { routeClusters } from '../../src/xds/references.js';
import { GrpcStager } from '../../src/app/grpc-stager.js';
import type { RouteConfiguration } from '../../src/xds/proto.js';
import { STAGING_HEADER } from '../../src/app/grpc-staged-sets.js';
import { grpcSet } from './grpc-sets.js';


/** The clusters the set's real routes (not its staging routes) send calls to. */
function routedClusters(set: ResourceSet): string[] {
  const config = set.route[0]!.message as RouteConfiguration;
  const real = config.virtualHosts.map((vh) => ({ ...vh, routes: vh.routes.filter((r) => !r.match?.headers.some((h) => h.name === STAGING_HEADER)) }));
  return routeClusters({ ...config, virtualHosts: real } as RouteConfiguration);
}

test('changes arriving faster than a phase ends keep what clients may route to, not every cluster since the last completed change', (t) => {
  // No client ever in sync and a bound that never passes during the test: every change interrupts the last.
  const stager = new GrpcStager({ timeoutMs: 60_000, logger: pino({ level: 'silent' }), synced: () => false, rebuild: () => {} });
  t.after(() => stager.close());
  const targets = Array.from({ length: 300 }, (_, i) => grpcSet([`n${i},n${i + 1}`, `n${i + 1},n${i + 2}`]));
  let served = stager.build('K', targets[0]!);
  let most = 0;
  for (let i = 1; i < targets.length; i++) {
    const before = served;
    served = stager.build('K', targets[i]!);
    stager.rebuilt(new Set(['K']));
    assert.deepEqual(checkConsistency(served), [], `change ${i}: the staged set is consistent`);
    // A client may still route with the routes it was given last: their clusters stay.
    const names = new Set(served.cluster.map((c) => c.name));
    for (const c of routedClusters(before)) assert.ok(names.has(c), `change ${i}: ${c}, routed to by the set before, was dropped`);
    most = Math.max(most, served.cluster.length);
  }
  assert.deepEqual(stager.inProgress(), [{ classKey: 'K', phase: 'add' }]);
  assert.ok(most <= 6, `the staged set grew to ${most} clusters over ${targets.length} changes of 2 clusters each`);
});

test('routes held back for a change are replaced within the bound even while newer changes keep coming', async (t) => {
  let target = grpcSet(['n0,n1']);
  const served: ResourceSet[] = [];
  const stager: GrpcStager = new GrpcStager({
    timeoutMs: 150,
    lingerMs: 0,
    logger: pino({ level: 'silent' }),
    synced: () => false,
    rebuild: () => {
      served.push(stager.build('K', target));
      stager.rebuilt(new Set(['K']));
    },
  });
  t.after(() => stager.close());
  served.push(stager.build('K', target));
  const started = Date.now();
  // A change every 40 ms, each well inside the 150 ms bound of the one before.
  for (let i = 1; Date.now() - started < 1_000; i++) {
    target = grpcSet([`n${i},n${i + 1}`]);
    served.push(stager.build('K', target));
    stager.rebuilt(new Set(['K']));
    await new Promise((r) => setTimeout(r, 40));
  }
  const routed = served.map((s) => routedClusters(s).join(' '));
  assert.notEqual(routed.at(-1), 'n0,n1', `after 1 s of changes the clients still route with the first routes (${served.length} sets served)`);
});
