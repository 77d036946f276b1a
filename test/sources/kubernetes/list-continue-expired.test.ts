/**
 * A paged list whose pages take longer than a continue token lives (etcd compacts past the
 * snapshot every 5 minutes by default: a large collection, or a slow or throttled API server).
 * Starting the paged list again from its first page expires again the same way, for ever; after a
 * continue token expires, keyway asks once for the whole list without paging, as client-go's pager
 * does (FullListIfExpired). That answer is bounded like any list answer.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { KubeApiServer } from '../../support/kube-apiserver/index.js';
import { eventually } from '../../support/eventually.js';
import { LIST_RESPONSE_HEAP_DIVISOR, listResponseBound, MAX_LIST_RESPONSE_BYTES } from '../../../src/sources/kubernetes/bounded-http.js';
import { NS, podLists, populate } from './fixtures.js';
import { startSource, stopAfterEach } from './harness.js';

const started = stopAfterEach();

const unpaged = (r: { query: Readonly<Record<string, string>> }): boolean => r.query.limit === undefined && r.query.continue === undefined;
const firstPage = (r: { query: Readonly<Record<string, string>> }): boolean => r.query.limit !== undefined && r.query.continue === undefined;

test('a list whose pages outlive the continue token completes with one unpaged list', async () => {
  // 12 pods in pages of 4; the third page's token has always expired (its pages outlive etcd's
  // compaction), so a paged list can never complete (it used to restart twice, back off, and fail
  // the start). Expiry counted in pages: the test does not depend on how fast pages are served.
  const server = (started.server = await KubeApiServer.start({ continueExpiresAtPage: 3 }));
  populate(server, 12);
  const running = (started.running = await startSource(server, {}, { listPageSize: 4, initialSyncTimeoutMs: 4000 }));
  assert.equal(running.source.current().length, 12);
  const lists = podLists(server);
  assert.deepEqual(
    lists.map((r) => `${r.query.continue === undefined ? 'first' : 'continue'} limit=${r.query.limit ?? 'none'} ${r.status}`),
    ['first limit=4 200', 'continue limit=4 200', 'continue limit=4 410', 'first limit=none 200'],
    'two pages, the third refused, then one unpaged list',
  );
  const warned = running.logs.filter((l) => l.resource === 'pods' && typeof l.error === 'string' && l.error.includes('list continue token expired after 2 pages, 8 objects; listing again in one request without paging'));
  assert.equal(warned.length, 1, 'the fallback is logged once');
  assert.equal(warned[0]!.level, 40);

  // A later relist (the watch expired) pages again: the fallback is for that one list only.
  server.expireContinueAtPage(undefined);
  await eventually('watches open', () => server.openWatches() === 3);
  const before = podLists(server).length;
  server.expireWatches();
  await eventually('a paged relist of pods', () => podLists(server).slice(before).some(firstPage));
  assert.ok(!podLists(server).slice(before).some(unpaged), 'no unpaged relist');
});

test('an unpaged fallback past the list answer bound fails with the bound message, and the list is retried paged', async () => {
  // 80 ms a page, so the paged retry's third page comes long after the test saw its first.
  const server = (started.server = await KubeApiServer.start({ listItemDelayMs: 20, continueExpiresAtPage: 3 }));
  populate(server, 12);
  // A bound that the pages (4 pods), the node and the slice lists fit in, but not all 12 pods at once.
  const size = async (path: string): Promise<number> => (await (await fetch(`${server.url}${path}`)).arrayBuffer()).byteLength;
  const whole = await size(`/api/v1/namespaces/${NS}/pods`);
  const page = await size(`/api/v1/namespaces/${NS}/pods?limit=4`);
  const slices = await size(`/apis/discovery.k8s.io/v1/namespaces/${NS}/endpointslices`);
  const bound = Math.floor((whole + Math.max(page, slices)) / 2);
  assert.ok(page < bound && slices < bound && bound < whole, `page ${page}, slices ${slices}, bound ${bound}, whole ${whole}`);
  server.requests.length = 0;

  // Once the paged list has started again after the refused fallback, tokens last: it completes.
  const lifted = eventually(
    'a paged list of pods after the unpaged one',
    () => {
      const lists = podLists(server);
      const fallback = lists.findIndex(unpaged);
      return fallback >= 0 && lists.slice(fallback + 1).some(firstPage);
    },
    { intervalMs: 1, timeoutMs: 4000 },
  ).then(() => server.expireContinueAtPage(undefined));
  const running = (started.running = await startSource(server, {}, { listPageSize: 4, maxListResponseBytes: bound, initialSyncTimeoutMs: 4000 }));
  await lifted;
  assert.equal(running.source.current().length, 12);
  const failed = running.logs.filter((l) => l.resource === 'pods' && typeof l.error === 'string' && l.error.includes(`list answer larger than ${bound} bytes from /api/v1/namespaces/${NS}/pods`));
  assert.equal(failed.length, 1, 'the bound stopped the unpaged answer once');
  assert.ok(typeof failed[0]!.retryInMs === 'number' && failed[0]!.retryInMs > 0, 'retried after a backoff delay');
  const lists = podLists(server);
  assert.equal(lists.filter(unpaged).length, 1, 'one unpaged list');
  assert.ok(lists.filter(firstPage).length >= 2, 'the retry paged again');
});

test('the list answer bound follows the V8 heap limit: a third of it for a page, a seventh unpaged', () => {
  const MiB = 1024 * 1024;
  // The shipped --max-old-space-size=384 gives a heap limit of 432 MiB.
  const heap = 432 * MiB;
  assert.equal(listResponseBound('page', heap), Math.floor(heap / LIST_RESPONSE_HEAP_DIVISOR.page));
  assert.equal(listResponseBound('whole', heap), Math.floor(heap / LIST_RESPONSE_HEAP_DIVISOR.whole));
  assert.ok(listResponseBound('whole', heap) < 86 * MiB, 'an unpaged pod list of 86 MiB ran that heap out of memory (unpaged-list-heap.test.ts)');
  assert.ok(listResponseBound('page', heap) > 130 * MiB, 'a page of 500 pods with 256 KiB annotations still fits');
  assert.equal(listResponseBound('page', 4096 * MiB), MAX_LIST_RESPONSE_BYTES, 'a large heap keeps the fixed bound');
  assert.equal(listResponseBound('whole', 4096 * MiB), MAX_LIST_RESPONSE_BYTES);
});

test('with the shipped --max-old-space-size=384, the default bounds are 144 MiB a page and 61 MiB unpaged', () => {
  const module = fileURLToPath(new URL('../../../src/sources/kubernetes/bounded-http.ts', import.meta.url));
  const child = spawnSync(
    process.execPath,
    ['--max-old-space-size=384', '--import', 'tsx', '--input-type=module', '-e', `import { listResponseBound } from ${JSON.stringify(module)}; console.log(JSON.stringify([listResponseBound('page'), listResponseBound('whole')]));`],
    { encoding: 'utf8', timeout: 60_000 },
  );
  assert.equal(child.status, 0, child.stderr);
  const [page, whole] = JSON.parse(child.stdout) as [number, number];
  const MiB = 1024 * 1024;
  assert.equal(Math.floor(page / MiB), 144);
  assert.equal(Math.floor(whole / MiB), 61);
});
