/**
 * A list answer put off by the shared list answer budget is no API failure, so it sets no
 * lastError. A start that fails while a resource's answers are only ever put off (another
 * resource's larger answer holds the budget) named that resource "no answer yet", as if the API
 * server never answered it: the message must say the budget put its answers off. The stop that
 * follows the failed start ends the put-off: no request after it, the budget given back.
 */
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { test } from 'node:test';
import { ListAnswerBudget } from '../../../src/sources/kubernetes/bounded-http.js';
import { eventually } from '../../support/eventually.js';
import { forward, listening } from './closing-proxy.js';
import { bigCluster, fetchWhole } from './big-answers.js';
import { startSource } from './harness.js';

const MiB = 1024 * 1024;

test('a start that fails while a resource is only ever put off by the list answer budget says so, not "no answer yet"', async (t) => {
  // Pods 5 MiB and nodes 4 MiB under a 6 MiB budget: each alone fits, the two at once do not.
  const server = await bigCluster(5 * MiB, 4 * MiB);
  t.after(() => server.close());
  const upstream = new URL(server.url);
  const budget = new ListAnswerBudget(6 * MiB);
  const lists = { pods: 0, nodes: 0 };
  const proxy = await listening(
    createServer((req, res) => {
      const url = new URL(req.url ?? '/', 'http://proxy');
      const which = url.pathname === '/api/v1/namespaces/cache/pods' ? 'pods' : url.pathname === '/api/v1/nodes' ? 'nodes' : undefined;
      if (which === undefined || url.searchParams.get('watch') === 'true') return forward(upstream, req, res);
      lists[which]++;
      res.on('error', () => undefined);
      void fetchWhole(upstream, req).then(async ({ body }) => {
        res.writeHead(200, { 'content-type': 'application/json' });
        if (which === 'pods') {
          // 4 MiB of the pods answer, and never the rest: the larger answer, holding the budget.
          res.write(body.subarray(0, 4 * MiB));
          return;
        }
        // Each nodes answer once the pods bytes are counted: it crosses the budget and gives way.
        await eventually('the pods answer counted', () => budget.held() >= 4 * MiB || res.destroyed, { timeoutMs: 20_000, intervalMs: 5 });
        if (!res.destroyed) res.end(body);
      });
    }),
  );
  t.after(() => proxy.close());
  const failed = await startSource(server, {}, {
    kubeConfig: proxy.kubeConfig(),
    maxListResponseBytes: 6 * MiB,
    listAnswerBudget: budget,
    listTimeoutMs: 20_000,
    startTimeoutMs: 3000,
    startMaxMs: 3000,
  }).then(
    () => undefined,
    (err: unknown) => err,
  );
  assert.ok(failed instanceof Error, 'the start fails: the pods list never completes');
  assert.equal((failed as { code?: unknown }).code, 'SOURCE_UNAVAILABLE');
  assert.ok(lists.nodes >= 2, `the nodes list was answered and put off, then asked again (${JSON.stringify(lists)})`);
  const nodes = /nodes: ([^;)]*)/.exec(failed.message)?.[1];
  assert.ok(nodes !== undefined, failed.message);
  assert.doesNotMatch(nodes, /no answer yet/, `the API server answered every nodes list: ${failed.message}`);
  assert.match(nodes, /^\d+ list answers? put off by the list answer budget beside a larger answer, the last \d+ ms ago$/, failed.message);
  assert.match(failed.message, /pods: no answer yet/, 'the resource that got no page is still named so');
  // The failed start stopped the source: the put-off nodes list is not asked again, and its bytes
  // and the cut pods answer's are given back.
  const asked = lists.nodes;
  await eventually('the budget given back', () => budget.held() === 0, { timeoutMs: 5000 });
  await new Promise((r) => setTimeout(r, 1500)); // past LIST_BUDGET_RETRY_MS: a put-off retry would have come
  assert.equal(lists.nodes, asked, 'no nodes list asked after the stop');
  assert.equal(budget.held(), 0);
});
