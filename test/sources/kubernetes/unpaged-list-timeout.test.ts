/**
 * The unpaged list that replaces a paged one whose continue token expired carries the whole
 * collection, so it gets listTimeoutMs for each page the paged list would have read, not one
 * listTimeoutMs: the fallback is needed exactly when pages are slow, and with the time of one page
 * it failed every time (the paged list then expired again, and so on until startMaxMs). During
 * start, the start timeout does not run while that request is within its bound.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { unpagedTimeoutMs } from '../../../src/sources/kubernetes/informer.js';
import { KubeApiServer } from '../../support/kube-apiserver/index.js';
import { eventually } from '../../support/eventually.js';
import { FakeClock } from './fake-clock.js';
import { populate, podLists } from './fixtures.js';
import { type RunningSource, startSource, stopAfterEach } from './harness.js';

const started = stopAfterEach();

const unpaged = (r: { query: Readonly<Record<string, string>> }): boolean => r.query.limit === undefined && r.query.continue === undefined;

test('the unpaged fallback gets listTimeoutMs for each page the paged list had: read, and left by remainingItemCount', () => {
  assert.deepEqual(unpagedTimeoutMs(30_000, 24, 2000, 500), {
    ms: 28 * 30_000,
    why: '30000 ms for each of the 28 pages of the paged list whose continue token expired: 24 read, 4 left',
  });
  // No remainingItemCount (a list with a label selector): at least one page more.
  assert.equal(unpagedTimeoutMs(30_000, 3, undefined, 500).ms, 4 * 30_000);
  assert.match(unpagedTimeoutMs(30_000, 3, undefined, 500).why, /3 read, 1 or more left$/);
});

test('an unpaged fallback that takes longer than one listTimeoutMs, but not than the pages had, completes', async () => {
  // 20 pods in pages of 5, 30 ms a pod: a page takes 150 ms, the whole collection 600 ms. Tokens
  // expire at page 3: after 2 pages (10 pods, 10 left) the fallback has 4 × 400 ms.
  const server = (started.server = await KubeApiServer.start({ listItemDelayMs: 30, continueExpiresAtPage: 3 }));
  populate(server, 20);
  const running = (started.running = await startSource(server, {}, { listPageSize: 5, listTimeoutMs: 400, initialSyncTimeoutMs: 8000 }));
  assert.equal(running.source.current().length, 20);
  assert.equal(podLists(server).filter(unpaged).length, 1, 'one unpaged list, which completed');
  const warned = running.logs.filter((l) => l.resource === 'pods' && typeof l.error === 'string' && l.error.includes('listing again in one request without paging, within 1600 ms)'));
  assert.equal(warned.length, 1, 'the fallback and its bound are logged');
  assert.ok(!running.logs.some((l) => typeof l.error === 'string' && l.error.includes('not complete within')), 'no list timed out');
});

/**
 * A start whose pods list is held page by page, whose continue token expires at page 3, on a fake
 * clock (startTimeoutMs 1 s, listTimeoutMs 30 s); `settled()` is what start() gave, once it has.
 */
async function startWithExpiringPods(): Promise<{ server: KubeApiServer; clock: FakeClock; settled: () => RunningSource | Error | undefined }> {
  const server = (started.server = await KubeApiServer.start({ continueExpiresAtPage: 3 }));
  populate(server, 12);
  server.holdLists('pods');
  const clock = new FakeClock();
  let outcome: RunningSource | Error | undefined;
  startSource(server, {}, { listPageSize: 4, startTimeoutMs: 1000, startMaxMs: 600_000, listTimeoutMs: 30_000, clock }).then(
    (r) => (outcome = r),
    (e: unknown) => (outcome = e as Error),
  );
  return { server, clock, settled: () => outcome };
}

test('during start, an unpaged fallback within its bound is waited for past startTimeoutMs', async (t) => {
  const { server, clock, settled } = await startWithExpiringPods();
  const requested = (): Promise<unknown> => eventually('a list of pods requested', () => server.heldLists('pods') === 1, { intervalMs: 1 });
  for (let page = 1; page <= 3; page++) {
    await requested();
    assert.ok(server.releaseList('pods')); // pages 1 and 2, then 410 Expired for page 3
  }
  await requested(); // the unpaged list: it has 3 × 30 s
  assert.ok(unpaged(podLists(server).at(-1)!));
  for (let i = 0; i < 10; i++) {
    clock.advance(900);
    await new Promise((r) => setImmediate(r));
  }
  assert.ok(settled() === undefined, `start settled while the unpaged list was within its bound: ${String(settled())}`);
  assert.ok(server.releaseList('pods'));
  await eventually('start resolved', () => settled() !== undefined);
  const running = settled() as unknown as RunningSource | Error;
  assert.ok(!(running instanceof Error), `start failed: ${String(running)}`);
  t.after(() => running.source.stop());
  assert.equal(running.source.current().length, 12);
});

test('during start, an unpaged fallback past its bound no longer holds the start timeout off', async () => {
  const { server, clock, settled } = await startWithExpiringPods();
  for (let page = 1; page <= 4; page++) {
    await eventually('a list of pods requested', () => server.heldLists('pods') === 1, { intervalMs: 1 });
    if (page < 4) assert.ok(server.releaseList('pods'));
  }
  // The unpaged list is never answered: once the fake clock passes its 3 × 30 s, the start fails.
  for (let i = 0; i < 100 && settled() === undefined; i++) {
    clock.advance(1000);
    await new Promise((r) => setImmediate(r));
  }
  await eventually('start settled', () => settled() !== undefined);
  const outcome = settled();
  assert.ok(outcome instanceof Error, 'start failed');
  assert.match(outcome.message, /^no complete list of pods from the Kubernetes API: no list page of pods in 1000 ms \(kubernetes\.startTimeoutMs\) \(pods: listing without paging after a continue token expired, 0 ms left \(the paged list read 8 objects in 2 pages, the last page 90000 ms ago\)\)$/);
});
