/**
 * A first list that is still paging when start() gives up (a large namespace, a slow API server):
 * the error must say the list was under way and how far it came, not that the API server never
 * answered (which points at the network or RBAC, when the collection's size is the cause).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { KeywayError } from '../../../src/core/errors.js';
import { KubeApiServer } from '../../support/kube-apiserver/index.js';
import { nodeObject, podObject, sliceObject, type SliceEndpoint } from './fixtures.js';
import { startSource } from './harness.js';

test('a start that times out while the pods are still paging says how far the list came', async (t) => {
  // 150 pods in pages of 5 at 20 ms per pod: a page every 100 ms, 3 s for the list; start gives up
  // at 1.5 s, when the one-object lists of nodes and slices are long done even on a loaded machine.
  const server = await KubeApiServer.start({ listItemDelayMs: 20 });
  t.after(() => server.close());
  server.upsert(nodeObject('gpu-1', { region: 'r', zone: 'z' }));
  const members: SliceEndpoint[] = [];
  for (let i = 0; i < 150; i++) {
    const name = `cache-node-${String(i).padStart(3, '0')}`;
    server.upsert(podObject(name, { node: 'gpu-1', ip: `10.0.${i >> 8}.${(i & 255) + 1}` }));
    members.push({ pod: name, ip: `10.0.${i >> 8}.${(i & 255) + 1}`, node: 'gpu-1' });
  }
  server.upsert(sliceObject('cache-node-abcde', members.slice(0, 4)));

  await assert.rejects(startSource(server, {}, { listPageSize: 5, initialSyncTimeoutMs: 1500 }), (err: unknown) => {
    assert.ok(err instanceof KeywayError && err.code === 'SOURCE_UNAVAILABLE');
    assert.match(err.message, /^no complete list of pods from the Kubernetes API within 1500 ms \(pods: still listing \((\d+) objects in (\d+) pages read so far\)\)$/);
    const [, objects, pages] = /\((\d+) objects in (\d+) pages/.exec(err.message)!;
    assert.ok(Number(pages) >= 2 && Number(objects) === Number(pages) * 5, err.message);
    return true;
  });
});
