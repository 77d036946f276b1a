/**
 * Lists are read in pages (`limit`/`continue`), as client-go's informers read them: a large
 * collection does not have to arrive within one listTimeoutMs, and a continue token that expires
 * mid-list (410) is followed by one unpaged list rather than failing or mixing two snapshots
 * (list-continue-expired.test.ts: a list whose pages always outlive the token).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { KubeApiServer } from '../../support/kube-apiserver/index.js';
import { eventually } from '../../support/eventually.js';
import { NS, nodeObject, podLists, populate } from './fixtures.js';
import { startSource, stopAfterEach } from './harness.js';

const started = stopAfterEach();


test('a list whose whole answer takes longer than listTimeoutMs still completes, one page at a time', async () => {
  // 60 pods at 25 ms each: 1.5 s for one answer, past the 800 ms list timeout; 150 ms per page of 6.
  const server = (started.server = await KubeApiServer.start({ listItemDelayMs: 25 }));
  populate(server, 60);
  const running = (started.running = await startSource(server, {}, { listTimeoutMs: 800, listPageSize: 6, initialSyncTimeoutMs: 8000 }));
  assert.equal(running.source.current().length, 60);
  const lists = podLists(server);
  assert.equal(lists.length, 10, 'ten pages of six pods');
  assert.ok(lists.every((r) => r.query.limit === '6' && r.status === 200));
  assert.equal(lists.filter((r) => r.query.continue === undefined).length, 1, 'one list, continued nine times');
});

test('a continue token that expires mid-list: one unpaged list holds the current state, not a mix', async () => {
  const server = (started.server = await KubeApiServer.start({ listItemDelayMs: 10 }));
  populate(server, 12);
  const s = server;
  const starting = startSource(s, {}, { listPageSize: 4, initialSyncTimeoutMs: 8000 });
  // While the first page of pods is on its way: a pod goes, and the history is compacted, so the
  // snapshot the next page would continue is gone (what etcd compaction does every 5 minutes).
  await eventually('first page of pods requested', () => podLists(s).length >= 1, { intervalMs: 1 });
  s.remove('Pod', NS, 'cache-node-011');
  s.compact();
  const running = (started.running = await starting);
  const lists = podLists(s);
  assert.ok(lists.some((r) => r.status === 410 && r.query.continue !== undefined), 'a continued page was refused with 410');
  assert.equal(lists.filter((r) => r.query.continue === undefined).length, 2, 'the list started again once');
  assert.equal(lists.filter((r) => r.query.continue === undefined && r.query.limit === undefined).length, 1, 'without paging');
  const ids = running.source.current().map((e) => e.id);
  assert.equal(ids.length, 11);
  assert.ok(!ids.includes('cache-node-011'), 'the pod deleted during the first list is gone');
  assert.deepEqual(running.source.status().problems.map((p) => `${p.reason} ${p.name}`), ['pod-not-found cache-node-011']);
});

test('continue tokens that keep expiring: one unpaged list per attempt completes the list', async () => {
  // No history at all and a write every few ms: every continued page finds its snapshot compacted.
  // Starting the paged list again expired the same way each time: the start failed.
  const server = (started.server = await KubeApiServer.start({ listItemDelayMs: 2, historyLimit: 0 }));
  populate(server, 12);
  const s = server;
  let n = 0;
  const churn = setInterval(() => s.upsert(nodeObject(`churn-${n++ % 3}`)), 2);
  try {
    const running = (started.running = await startSource(s, {}, { listPageSize: 4, initialSyncTimeoutMs: 3000, backoff: { initialMs: 200, maxMs: 400 } }));
    assert.equal(running.source.current().length, 12);
  } finally {
    clearInterval(churn);
  }
  const lists = podLists(s);
  assert.ok(lists.some((r) => r.status === 410 && r.query.continue !== undefined), 'a continued page was refused with 410');
  assert.equal(lists.filter((r) => r.query.continue === undefined && r.query.limit === undefined).length, 1, 'one unpaged list');
});
