/**
 * During start, a list page read again after a list failed because paging is broken counts as no
 * progress. A proxy that drops `continue` makes every list read page 1 again (and fail on page 2):
 * those pages are answers, but no progress, and the start fails after startTimeoutMs, naming why,
 * rather than waiting out startMaxMs (10 minutes by default). Pages read again after any other
 * failure (a timeout) are progress: that list can complete.
 */
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { test } from 'node:test';
import { KeywayError } from '../../../src/core/errors.js';
import { KubeApiServer } from '../../support/kube-apiserver/index.js';
import { eventually } from '../../support/eventually.js';
import { forward, listening } from './closing-proxy.js';
import { FakeClock } from './fake-clock.js';
import { populate, podLists } from './fixtures.js';
import { type RunningSource, startSource } from './harness.js';

const START_TIMEOUT_MS = 1000;
const STEP_MS = 300;

test('a list whose continue parameter is dropped fails the start after startTimeoutMs, not startMaxMs', async (t) => {
  const server = await KubeApiServer.start();
  t.after(() => server.close());
  populate(server, 4);
  const upstream = new URL(server.url);
  const proxy = await listening(
    createServer((req, res) => {
      const url = new URL(req.url ?? '/', 'http://proxy');
      url.searchParams.delete('continue');
      req.url = url.pathname + url.search;
      forward(upstream, req, res);
    }),
  );
  t.after(() => proxy.close());

  const clock = new FakeClock();
  let outcome: RunningSource | Error | undefined;
  startSource(server, {}, { kubeConfig: proxy.kubeConfig(), listPageSize: 2, startTimeoutMs: START_TIMEOUT_MS, startMaxMs: 600_000, clock }).then(
    (r) => (outcome = r),
    (e: unknown) => (outcome = e as Error),
  );
  // Each step: one more list of pods (page 1 read again, page 2 refused as a repeat), then 300 ms
  // of the fake clock. Counted as progress, every page 1 deferred the start timeout for good.
  let elapsed = 0;
  for (let step = 0; step < 20 && outcome === undefined; step++) {
    const seen = podLists(server).length;
    await eventually('one more list of pods', () => podLists(server).length >= seen + 2 || outcome !== undefined);
    clock.advance(STEP_MS);
    elapsed += STEP_MS;
    await new Promise((r) => setImmediate(r));
  }
  await eventually('start settled', () => outcome !== undefined, { timeoutMs: 2000 }).catch(() => undefined);
  if (outcome !== undefined && !(outcome instanceof Error)) await outcome.source.stop();
  assert.ok(outcome instanceof KeywayError && outcome.code === 'SOURCE_UNAVAILABLE', `start still waiting after ${elapsed} ms of the fake clock: ${String(outcome)}`);
  // The first page was progress; nothing after it was: the start fails one startTimeoutMs later.
  assert.ok(elapsed <= START_TIMEOUT_MS + 2 * STEP_MS, `failed after ${elapsed} ms`);
  assert.match(
    outcome.message,
    /^no complete list of pods from the Kubernetes API: no list of pods went further than 2 objects in 1 pages \(\d+ pages since read only what an earlier list had read\) in 1000 ms \(kubernetes\.startTimeoutMs\) \(pods: .*list of pods: page 2 repeats cache\/cache-node-000 of an earlier page: the API server, or a proxy in between, ignores the continue parameter/,
  );
});

test('a slow list started again after a timeout makes progress while it reads its pages again', async (t) => {
  // The first list of pods stops at page 3 (never answered: it times out); the second reads pages
  // 1 and 2 again, each 700 ms after the one before (1400 ms in all, more than startTimeoutMs
  // since page 2 of the first list), and then page 3, so the start completes. Pages read again
  // counted as no progress, the start failed while the list that could complete was re-reading.
  const server = await KubeApiServer.start();
  t.after(() => server.close());
  populate(server, 12);
  server.holdLists('pods');
  const clock = new FakeClock();
  let outcome: RunningSource | Error | undefined;
  startSource(server, {}, { listPageSize: 4, startTimeoutMs: START_TIMEOUT_MS, startMaxMs: 600_000, listTimeoutMs: 500, clock }).then(
    (r) => (outcome = r),
    (e: unknown) => (outcome = e as Error),
  );
  const release = async (stepMs = STEP_MS): Promise<void> => {
    await eventually('a page of pods requested', () => server.heldLists('pods') === 1, { intervalMs: 1 });
    clock.advance(stepMs);
    assert.ok(server.releaseList('pods'));
  };
  await release(); // page 1
  await release(); // page 2
  await eventually('page 3 of pods requested', () => server.heldLists('pods') === 1, { intervalMs: 1 });
  const asked = podLists(server).length;
  // Page 3 is not answered: the list times out (listTimeoutMs, real time) and starts again.
  await eventually('the list of pods started again', () => podLists(server).length > asked && server.heldLists('pods') === 1, { intervalMs: 1 });
  await release(700); // page 1 again
  await release(700); // page 2 again
  assert.ok(outcome === undefined, `start settled early: ${String(outcome)}`);
  await release(); // page 3: further than the first list got
  await eventually('start resolved', () => outcome !== undefined);
  const running = outcome as unknown as RunningSource | Error;
  assert.ok(!(running instanceof Error), `start failed: ${String(running)}`);
  t.after(() => running.source.stop());
  assert.equal(running.source.current().length, 12);
});
