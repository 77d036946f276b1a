/**
 * A gRPC class mid make-before-break is handed the same staged set on every rebuild of its phase
 * (src/app/grpc-stager.ts): the snapshot cache then skips it. A fresh staged set per build (route
 * configurations copied each time) made every rebuild, one per step of any class, re-check and
 * re-encode every staged class's resources although none of them changed.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import { GrpcStager } from '../../src/app/grpc-stager.js';
import { SnapshotCache } from '../../src/xds/cache/index.js';
import { proxyClassKey, type ProxyClass, type ResourceSet } from '../../src/xds/resources.js';
import { grpcSet } from './grpc-sets.js';

const logger = pino({ level: 'silent' });

test('a rebuild that moves no staged class checks and encodes none of them again', (t) => {
  const classes: ProxyClass[] = ['z0', 'z1', 'z2'].map((zone) => ({ flavor: 'grpc', zone, subzone: '' }));
  let target: ResourceSet = grpcSet(['a', 'b']);
  let checks = 0;
  const stager = new GrpcStager({ timeoutMs: 60_000, lingerMs: 0, logger, synced: () => false, rebuild: () => {} });
  t.after(() => stager.close());
  const cache = new SnapshotCache({
    build: (pc) => stager.build(proxyClassKey(pc), target),
    checkConsistency: () => {
      checks++;
      return [];
    },
  });
  for (const pc of classes) cache.watch(pc, 'route', () => {});
  const rebuild = (): void => {
    cache.rebuild();
    stager.rebuilt(new Set(classes.map(proxyClassKey)));
  };
  rebuild();
  // A change that creates a cluster: every class enters its `add` phase (a staged set each).
  target = grpcSet(['a', 'c']);
  rebuild();
  assert.deepEqual(
    stager.inProgress().map((c) => c.phase),
    ['add', 'add', 'add'],
  );
  const before = checks;
  // Rebuilds in which no class moves (as after another class's step, or an ACK that changes nothing).
  rebuild();
  rebuild();
  assert.equal(checks - before, 0, 'no staged class is checked (or encoded) again while its phase holds');
});
