// A stock gRPC class whose per-shard resources pass gRPC's 4 MiB gets a route configuration with no
// route and nothing else built. What the translator kept for reuse from the class's last map that
// fitted must go then: a fleet that grew past the limit (more nodes, more owner tuples) would
// otherwise go on holding each place's full assignments and every tuple's cluster, for ever when
// no stock class fits any more, which is the heap the empty set is there to save.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { translateWithWarnings } from '../../../src/xds/translator/index.js';
import { GRPC_MAX_MESSAGE_BYTES } from '../../../src/xds/translator/grpc-size.js';
import { endpoint, handInput, locality } from './fixtures.js';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

const ZONES = ['z0', 'z1', 'z2', 'z3'];
const classes = ZONES.map((zone) => ({ flavor: 'grpc' as const, zone, subzone: 'f' }));

/** 64 shards over 8 nodes in ZONES: far below the limit. */
function fitting() {
  const nodes = Array.from({ length: 8 }, (_, i) => endpoint(`n${i}`, `10.0.0.${i + 1}`, { locality: locality(ZONES[i % ZONES.length]!, 'f') }));
  const owners = Array.from({ length: 64 }, (_, s) => [`n${s % 8}`, `n${(s + 1) % 8}`]);
  return handInput(nodes, owners);
}

/** One node whose id alone puts its cluster's name, and so the route configuration, past the limit. */
function oversized() {
  const id = `big-${'x'.repeat(GRPC_MAX_MESSAGE_BYTES)}`;
  return handInput([endpoint(id, '10.0.1.1', { locality: locality('z0', 'f') })], [[id]]);
}

test('a class past the limit lets go of what its last fitting translation kept for reuse', async () => {
  const refs: WeakRef<object>[] = [];
  (() => {
    const input = fitting();
    for (const proxy of classes) {
      const { resources } = translateWithWarnings(input, proxy);
      assert.ok(resources.cluster.length > 0 && resources.endpoint.length > 0);
      for (const r of [...resources.cluster, ...resources.endpoint]) refs.push(new WeakRef(r.message));
    }
  })();
  (() => {
    const input = oversized();
    for (const proxy of classes) {
      const { resources, warnings } = translateWithWarnings(input, proxy);
      assert.deepEqual([resources.cluster.length, resources.endpoint.length], [0, 0]);
      assert.ok(warnings.some((w) => w.includes("above gRPC's")), warnings.join('\n'));
    }
  })();
  for (let i = 0; i < 2; i++) {
    await new Promise((r) => setImmediate(r));
    gc();
  }
  const alive = refs.filter((r) => r.deref() !== undefined).length;
  assert.equal(alive, 0, `${alive} of ${refs.length} clusters and assignments of the last fitting map are still held`);
});

test('a class that fits again after being past the limit gets its clusters and routes back', () => {
  const proxy = classes[1]!;
  const before = translateWithWarnings(fitting(), proxy).resources;
  translateWithWarnings(oversized(), proxy);
  const after = translateWithWarnings(fitting(), proxy).resources;
  assert.deepEqual(after.cluster.map((r) => r.name), before.cluster.map((r) => r.name));
  assert.deepEqual(after.endpoint.map((r) => r.name), before.endpoint.map((r) => r.name));
  const routes = (set: typeof before): number => (set.route[0]!.message as unknown as { virtualHosts: { routes: unknown[] }[] }).virtualHosts[0]!.routes.length;
  assert.equal(routes(after), routes(before));
  assert.ok(routes(after) >= 64);
});
