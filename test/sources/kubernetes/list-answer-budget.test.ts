/**
 * Pods, nodes and EndpointSlices list at the same time, and each list answer's bound (a part of
 * the heap limit) is sized for that answer alone: two answers near it at once took more heap than
 * the process has. The informers of one source share one budget of list answer bytes: an answer
 * that would pass it beside another, holding fewer bytes than it, is put off, naming the budget,
 * and asked again; each answer alone is still held only to its own bound.
 */
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { test } from 'node:test';
import { ListAnswerBudget, listResponseBound } from '../../../src/sources/kubernetes/bounded-http.js';
import { eventually } from '../../support/eventually.js';
import { forward, listening } from './closing-proxy.js';
import { bigCluster, fetchWhole } from './big-answers.js';
import { startSource } from './harness.js';

const MiB = 1024 * 1024;

test('a list answer that would pass the shared budget beside another in flight is put off, naming it, and asked again', async (t) => {
  // 4 MiB of pods (large annotations keyway drops) and 4 MiB of nodes, a budget of 6 MiB: each
  // answer alone fits, the two at once do not.
  const server = await bigCluster(4 * MiB, 4 * MiB);
  t.after(() => server.close());
  const upstream = new URL(server.url);
  const budget = new ListAnswerBudget(6 * MiB);
  const nodeLists: { finished: boolean }[] = [];
  let podsPartRead: () => void = () => undefined;
  const podsPartReadP = new Promise<void>((r) => (podsPartRead = r));
  let podsRest: () => void = () => undefined;
  const podsRestP = new Promise<void>((r) => (podsRest = r));
  const proxy = await listening(
    createServer((req, res) => {
      const url = new URL(req.url ?? '/', 'http://proxy');
      const list = url.searchParams.get('watch') !== 'true';
      if (list && url.pathname === '/api/v1/namespaces/cache/pods') {
        // All but the last KiB of the first pods answer, then the rest once a node list was refused.
        void fetchWhole(upstream, req).then(async ({ status, body }) => {
          res.writeHead(status, { 'content-type': 'application/json' });
          const cut = body.length - 1024;
          res.write(body.subarray(0, cut));
          // Once the client has counted most of it (kernel buffers on loopback hold megabytes, so
          // a drained write says nothing of what the client read).
          await eventually('most of the pods answer counted', () => budget.held() >= 3 * MiB, { timeoutMs: 20_000, intervalMs: 5 });
          podsPartRead();
          await podsRestP;
          res.end(body.subarray(cut));
        });
        return;
      }
      if (list && url.pathname === '/api/v1/nodes') {
        const attempt = { finished: false };
        nodeLists.push(attempt);
        // The pods list ends once a node list is asked again (the first was refused); or, if the
        // first is taken, 3 s after it was written, so the start completes and the test fails on
        // what it asserts. (The first answer's close says nothing: written into loopback buffers,
        // it closes before the client has read, and counted, any of it.)
        if (nodeLists.length > 1) podsRest();
        void podsPartReadP.then(() => fetchWhole(upstream, req)).then(({ status, body }) => {
          res.writeHead(status, { 'content-type': 'application/json' });
          res.end(body, () => {
            attempt.finished = true;
            if (nodeLists.length === 1) setTimeout(podsRest, 3000).unref();
          });
        });
        return;
      }
      forward(upstream, req, res);
    }),
  );
  t.after(() => proxy.close());

  const running = await startSource(server, {}, { kubeConfig: proxy.kubeConfig(), maxListResponseBytes: 6 * MiB, listAnswerBudget: budget, listTimeoutMs: 20_000, initialSyncTimeoutMs: 20_000 });
  t.after(() => running.source.stop());
  assert.equal(running.source.current().length, 12);
  const refused = running.logs.filter(
    (l) => l.resource === 'nodes' && typeof l.error === 'string' && l.error.includes(`list answer from /api/v1/nodes would take the list answers held at once past ${6 * MiB} bytes`),
  );
  assert.equal(refused.length, 1, 'the node list that did not fit beside the pods list was put off once, naming the budget');
  assert.match(String(refused[0]!.msg), /^Kubernetes list answer on nodes put off by the list answer budget/);
  assert.ok(typeof refused[0]!.retryInMs === 'number' && refused[0]!.retryInMs > 0, 'and was asked again after a delay');
  // Not an API failure: the API server answered (the start counts it as an answer, as a 429).
  assert.equal(running.source.status().resources.find((r) => r.resource === 'nodes')?.lastError, undefined);
  await eventually('node lists counted', () => nodeLists.length >= 2);
});

test('the budget weighs an unpaged byte as the page bound over the unpaged bound, and refuses only beside another answer', () => {
  const budget = new ListAnswerBudget(300);
  const page = budget.lease(300);
  const whole = budget.lease(100);
  assert.ok(page.take(150));
  assert.ok(!whole.take(60), '60 unpaged bytes weigh 180: past the budget beside 150');
  whole.release();
  const again = budget.lease(100);
  assert.ok(again.take(50), '50 weigh 150: within it');
  assert.equal(budget.held(), 300);
  page.release();
  again.release();
  assert.equal(budget.held(), 0);
  const alone = budget.lease(300);
  assert.ok(alone.take(400), 'an answer alone is held to its own bound, not refused by the budget');
  alone.release();
});

test('the budget returns to exactly 0 after many interleaved answers of both kinds, released in either order', () => {
  // The shipped bounds under a 432 MiB heap limit: 144 MiB a page, 61 MiB unpaged (a weight of 144/61).
  const heap = 432 * MiB + 123_456;
  const budget = new ListAnswerBudget(listResponseBound('page', heap));
  for (let i = 0; i < 1000; i++) {
    const whole = budget.lease(listResponseBound('whole', heap));
    const page = budget.lease(listResponseBound('page', heap));
    for (let k = 0; k < 50; k++) {
      assert.ok(whole.take(16_384 + k * 7));
      assert.ok(page.take(65_536 - k));
    }
    if (i % 2 === 0) {
      page.release();
      whole.release();
    } else {
      whole.release();
      page.release();
    }
    assert.equal(budget.held(), 0, `after ${i + 1} rounds`);
  }
});
