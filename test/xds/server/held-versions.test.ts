// What a delta stream's proxy holds (held-versions.ts): after a push, the shared map it holds
// exactly; a map of the stream's own only once it holds something else.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ResourceEncoder, type EncodedResource } from '../../../src/xds/cache/index.js';
import { HeldVersions } from '../../../src/xds/server/held-versions.js';
import { edsCluster } from '../../support/xds-client/resources.js';

const encoder = new ResourceEncoder();
const byName = (...names: string[]): ReadonlyMap<string, EncodedResource> => new Map(names.map((n) => [n, encoder.encode('cluster', edsCluster(n))]));

test('held versions read through the shared map, and a change makes them the stream\'s own without touching the map', () => {
  const held = new HeldVersions();
  assert.deepEqual([held.size, held.names(), held.get('a'), held.shared], [0, [], undefined, true]);
  held.set('a', 'v-from-the-proxy');
  assert.deepEqual([held.get('a'), held.shared], ['v-from-the-proxy', false], 'initial_resource_versions: its own');

  const shared = byName('a', 'b');
  held.holdExactly(shared);
  assert.equal(held.shared, true, 'after a push: the shared map, no entry of its own');
  assert.deepEqual([held.size, held.names(), held.get('a'), held.has('b'), held.has('c')], [2, ['a', 'b'], shared.get('a')!.version, true, false]);

  assert.equal(held.delete('c'), false, 'a name not held: nothing to copy');
  assert.equal(held.shared, true);
  assert.equal(held.delete('a'), true);
  assert.deepEqual([held.shared, held.names(), held.get('b')], [false, ['b'], shared.get('b')!.version]);
  assert.deepEqual([...shared.keys()], ['a', 'b'], 'the shared map is left as it was');

  // names() is a copy: the account may change while a caller walks it.
  held.holdExactly(shared);
  for (const n of held.names()) held.delete(n);
  assert.deepEqual([held.size, shared.size], [0, 2]);
});
