// A proxy's served class may change with the input (docs/security.md "xDS streams": classes are
// bounded by the topology): a watcher follows its class on the next rebuild and is told of the new
// class's snapshot, so an agent that connected before its node had assignments gets them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SnapshotCache } from '../../../src/xds/cache/index.js';
import { checkConsistency } from '../../../src/xds/translator/index.js';
import type { ProxyClass } from '../../../src/xds/resources.js';
import { miniSet } from '../../support/xds-client/resources.js';

test('a watcher moves to its new served class on rebuild and hears its snapshot', () => {
  const known = new Set<string>();
  // Two "topologies": the class of a known node builds c-<node>, the unknown class builds c-unknown.
  const cache = new SnapshotCache({
    build: (c) => miniSet({ clusters: { [`c-${c.node || 'unknown'}`]: [9001] } }),
    checkConsistency,
    servedClass: (c) => (c.node !== undefined && !known.has(c.node) ? { ...c, node: '' } : c),
  });
  const agent: ProxyClass = { flavor: 'agent', zone: '', subzone: '', node: 'x' };
  const heard: string[] = [];
  const stop = cache.watch(agent, 'cluster', (s) => heard.push(s.classKey));
  assert.deepEqual([...cache.snapshot(agent)!.kinds.cluster.resources.keys()], ['c-unknown']);

  known.add('x');
  cache.rebuild();
  assert.deepEqual(heard, ['agent|||x'], 'told of its new class');
  assert.deepEqual([...cache.snapshot(agent)!.kinds.cluster.resources.keys()], ['c-x']);
  stop();
  cache.rebuild();
  assert.deepEqual(cache.classes().map((c) => c.watchers), [], 'unsubscribing removes it from the class it moved to');
});
