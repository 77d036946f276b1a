/**
 * A staged class (stock gRPC, docs/xds.md "Make-before-break for stock gRPC clients") whose
 * translated set the cache refuses keeps its previous snapshot, so its clients keep the clusters of
 * that one. The stager must not take the refused set as served: the next accepted change would then
 * start from clusters the clients never got and send routes to them without the `add` phase.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import type { KeywayError } from '../../src/core/errors.js';
import { GrpcStager } from '../../src/app/grpc-stager.js';
import { onceChecked, stagedSet } from '../../src/app/xds-stage.js';
import { SnapshotCache, type Snapshot } from '../../src/xds/cache/index.js';
import { RouteConfigurationSchema, type RouteConfiguration } from '../../src/xds/proto.js';
import { virtualHostClusters } from '../../src/xds/references.js';
import { checkConsistency } from '../../src/xds/translator/index.js';
import type { ProxyClass, ResourceSet } from '../../src/xds/resources.js';
import { edsCluster, miniSet } from '../support/xds-client/resources.js';

const grpc: ProxyClass = { flavor: 'grpc', zone: '', subzone: '' };
const turns = async (n: number): Promise<void> => {
  for (let i = 0; i < n; i++) await new Promise((r) => setImmediate(r));
};

/** The cluster the class's first (real) route sends to. */
function routedTo(s: Snapshot): string {
  const route = [...s.kinds.route.resources.values()][0]!;
  assert.equal(route.schema.typeName, RouteConfigurationSchema.typeName);
  return virtualHostClusters((route.message as RouteConfiguration).virtualHosts[0]!)[0]!;
}

test('a refused translation does not become what the stager thinks is served: the next change still stages its new cluster', async () => {
  const before = miniSet({ clusters: { c1: [9001] }, routeCluster: 'c1' });
  // A broken translation: it routes to c2 and defines the cluster, but not its endpoints.
  const good = miniSet({ clusters: { c1: [9001], c2: [9002] }, routeCluster: 'c2' });
  const broken: ResourceSet = { ...good, cluster: [...before.cluster, edsCluster('c2')], endpoint: before.endpoint };
  let current = before;
  const check = onceChecked(checkConsistency);
  const stager: GrpcStager = new GrpcStager({
    timeoutMs: 60_000,
    lingerMs: 0,
    logger: pino({ level: 'silent' }),
    // The clients hold whatever the cache serves: every phase is ACKed at once.
    synced: () => true,
    rebuild: () => rebuild(),
  });
  const cache = new SnapshotCache({ build: (c) => stagedSet(stager, c, current, check), checkConsistency: check });
  const rebuild = () => {
    const report = cache.rebuild();
    stager.rebuilt(new Set(report.classes.map((c) => c.classKey)));
    return report;
  };
  cache.watch(grpc, 'route', () => {});
  assert.equal(routedTo(cache.snapshot(grpc)!), 'c1');

  current = broken;
  const refused = rebuild();
  assert.equal((refused.classes[0]!.error as KeywayError | undefined)?.code, 'SNAPSHOT_INCONSISTENT');
  await turns(5); // any phase the stager would run on the refused set
  assert.equal(routedTo(cache.snapshot(grpc)!), 'c1', 'the class keeps its previous snapshot');

  // The fixed translation: c2 is new to the clients, so it is added before any route uses it.
  current = good;
  rebuild();
  assert.equal(routedTo(cache.snapshot(grpc)!), 'c1', 'routes to c2 went out before the clients were given c2');
  assert.deepEqual(stager.inProgress(), [{ classKey: 'grpc||', phase: 'add' }]);
  assert.ok(cache.snapshot(grpc)!.kinds.cluster.resources.has('c2'));
  stager.close();
});
