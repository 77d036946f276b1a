/**
 * Which list answer the shared list answer budget refuses, and what a refusal shows. The answer
 * holding the fewest counted bytes gives way (refusing whichever chunk crossed killed a pods page
 * at 130 of 144 MiB for a small nodes page that started later); a page put off is asked again,
 * not its list from page 1; and a refusal is no API failure: the informer stays connected, the
 * source is not stale, the API backoff does not grow, and it logs a line of its own.
 */
import assert from 'node:assert/strict';
import { createServer, type ServerResponse } from 'node:http';
import { test } from 'node:test';
import { ListAnswerBudget } from '../../../src/sources/kubernetes/bounded-http.js';
import { LIST_BUDGET_RETRY_MS } from '../../../src/sources/kubernetes/informer.js';
import type { KubernetesSourceStatus } from '../../../src/sources/kubernetes/index.js';
import { eventually } from '../../support/eventually.js';
import { forward, listening } from './closing-proxy.js';
import { bigCluster, fetchWhole } from './big-answers.js';
import { startSource } from './harness.js';

const MiB = 1024 * 1024;

const isList = (url: URL): boolean => url.searchParams.get('watch') !== 'true';

test('the answer holding the fewest bytes gives way, whichever chunk crossed; the larger is never refused', () => {
  const budget = new ListAnswerBudget(144);
  const pods = budget.lease(144);
  const nodes = budget.lease(144);
  let nodesAborted = 0;
  nodes.onRefused(() => nodesAborted++);
  assert.ok(pods.take(130));
  assert.ok(nodes.take(10));
  assert.ok(pods.take(10), "the pods answer's chunk crossed, and it holds more: the nodes answer gives way");
  assert.equal(nodesAborted, 1, 'the nodes answer was aborted');
  assert.ok(nodes.refused());
  assert.ok(!pods.refused());
  assert.equal(budget.held(), 140, "the nodes answer's bytes no longer count");
  assert.ok(!nodes.take(1), 'a refused answer counts nothing more');
  nodes.release();
  assert.equal(budget.held(), 140);
  // The newcomer whose chunk crosses holds fewer bytes: it is the one refused.
  const slices = budget.lease(144);
  assert.ok(!slices.take(5));
  assert.ok(slices.refused());
  assert.equal(budget.held(), 140);
  pods.release();
  assert.equal(budget.held(), 0);
});

test('a refused answer may be asked again once the answer it gave way to stops counting, not when another does', async () => {
  const budget = new ListAnswerBudget(100);
  const big = budget.lease(100);
  const small = budget.lease(100);
  assert.ok(big.take(60));
  assert.ok(small.take(10));
  const newcomer = budget.lease(100);
  assert.ok(!newcomer.take(50), 'the newcomer holds the fewest bytes');
  let given = false;
  const waiting = newcomer.given().then(() => (given = true));
  small.release();
  await new Promise((r) => setImmediate(r));
  assert.equal(given, false, 'another answer trimmed: the larger one it gave way to still holds its bytes');
  big.release();
  await waiting;
  assert.equal(given, true);
  assert.equal(budget.held(), 0);
  await newcomer.given(); // the winner is gone: at once
  await budget.lease(100).given(); // never refused: at once
});

/**
 * After start, every watch expires and the three collections list again. Pods (5 MiB) and nodes
 * (4 MiB) under a 6 MiB budget: the pods answer is read to 3.5 MiB, then the nodes answer to
 * 1.5 MiB, then `crossing` sends the rest of its answer first.
 */
async function relistWithBudget(t: { after(fn: () => unknown): void }, crossing: 'pods' | 'nodes') {
  const server = await bigCluster(5 * MiB, 4 * MiB);
  t.after(() => server.close());
  const upstream = new URL(server.url);
  const budget = new ListAnswerBudget(6 * MiB);
  let relisting = false;
  const lists = { pods: 0, nodes: 0 };
  /** Status snapshots taken whenever a list request arrives during the relist. */
  const statuses: KubernetesSourceStatus[] = [];
  /** The source, once started (the proxy reads its status). */
  const started: { running?: Awaited<ReturnType<typeof startSource>> } = {};
  const signal = (): { wait: Promise<void>; fire: () => void } => {
    let fire: () => void = () => undefined;
    const wait = new Promise<void>((r) => (fire = r));
    return { wait, fire };
  };
  const podsPart = signal();
  const nodesPart = signal();
  const podsRefused = signal();
  const nodesRefused = signal();
  const held = (bytes: number, what: string) => eventually(what, () => budget.held() >= bytes, { timeoutMs: 20_000, intervalMs: 5 });
  const scripted = (res: ServerResponse, body: Buffer, steps: (write: (upTo: number) => void) => Promise<void>): void => {
    res.writeHead(200, { 'content-type': 'application/json' });
    let sent = 0;
    void steps((upTo) => {
      res.write(body.subarray(sent, upTo));
      sent = upTo;
    }).then(() => res.end(body.subarray(sent)), () => res.destroy());
    res.on('error', () => undefined);
  };
  const proxy = await listening(
    createServer((req, res) => {
      const url = new URL(req.url ?? '/', 'http://proxy');
      const which = url.pathname === '/api/v1/namespaces/cache/pods' ? 'pods' : url.pathname === '/api/v1/nodes' ? 'nodes' : undefined;
      if (!relisting || which === undefined || !isList(url)) return forward(upstream, req, res);
      const attempt = ++lists[which];
      if (started.running) statuses.push(started.running.source.status());
      if (attempt > 1) {
        if (which === 'nodes') nodesRefused.fire();
        else podsRefused.fire();
        return forward(upstream, req, res);
      }
      void fetchWhole(upstream, req).then(({ body }) => {
        if (which === 'pods') {
          scripted(res, body, async (write) => {
            write(Math.floor(3.5 * MiB));
            await held(3.4 * MiB, 'the first 3.5 MiB of the pods answer counted');
            podsPart.fire();
            await nodesPart.wait;
            if (crossing === 'nodes') await nodesRefused.wait;
          });
        } else {
          scripted(res, body, async (write) => {
            await podsPart.wait;
            if (crossing === 'nodes') {
              nodesPart.fire();
              return; // the whole answer at once: its chunks cross the budget
            }
            write(Math.floor(1.5 * MiB));
            await held(4.9 * MiB, 'the first 1.5 MiB of the nodes answer counted beside the pods answer');
            nodesPart.fire();
            // Until the client cuts this answer (it gave way), or the pods answer is asked again
            // (it was refused instead): a written answer says nothing of what the client read.
            await Promise.race([new Promise((r) => res.on('close', r)), podsRefused.wait]);
          });
        }
      });
    }),
  );
  t.after(() => proxy.close());
  const running = await startSource(server, {}, {
    kubeConfig: proxy.kubeConfig(),
    maxListResponseBytes: 6 * MiB,
    listAnswerBudget: budget,
    listTimeoutMs: 20_000,
    initialSyncTimeoutMs: 20_000,
    backoff: { initialMs: 2000, maxMs: 30_000 },
  });
  started.running = running;
  const source = running.source;
  t.after(() => source.stop());
  assert.equal(source.current().length, 12);
  await eventually('every watch open', () => server.openWatches() === 3);
  // The start's own lists met in the budget too: only what follows counts.
  running.logs.length = 0;
  relisting = true;
  server.expireWatches();
  // Or the pods answer was asked again (refused: what the tests below assert against).
  await eventually('both collections listed again and watched', () => lists.pods >= 2 || (lists.pods >= 1 && lists.nodes >= 2 && server.openWatches('pods') === 1 && server.openWatches('nodes') === 1), {
    timeoutMs: 30_000,
    describe: () => ({ lists, held: budget.held() }),
  });
  return { running, lists, statuses, budget };
}

test('after start, a pods answer holding more bytes is not refused when a smaller nodes answer beside it would pass the budget: the nodes answer gives way and is asked again', async (t) => {
  const { running, lists, budget } = await relistWithBudget(t, 'pods');
  assert.equal(lists.pods, 1, 'the pods answer, which held the most bytes when its chunk crossed the budget, completed: asked once');
  assert.equal(lists.nodes, 2, 'the nodes answer gave way and was asked again');
  const putOff = running.logs.filter((l) => typeof l.msg === 'string' && l.msg.includes('put off by the list answer budget'));
  assert.deepEqual(
    putOff.map((l) => l.resource),
    ['nodes'],
  );
  assert.match(String(putOff[0]!.error), new RegExp(`list answer from /api/v1/nodes would take the list answers held at once past ${6 * MiB} bytes .* beside a larger answer`));
  await eventually('the budget given back', () => budget.held() === 0);
  assert.equal(running.source.current().length, 12);
});

test('after start, a refused list answer is no API failure: not disconnected, not stale, no API backoff, a log line of its own', async (t) => {
  const { running, lists, statuses } = await relistWithBudget(t, 'nodes');
  assert.equal(lists.pods, 1);
  assert.equal(lists.nodes, 2, 'the nodes answer, the newcomer holding fewer bytes, was refused once and asked again');
  // The status as the retried nodes list was asked for, after the refusal.
  assert.ok(statuses.length >= 3);
  for (const s of statuses) {
    assert.equal(s.stale, false, 'the source is not stale: the API server answered');
    for (const r of s.resources) {
      assert.equal(r.connected, true, `${r.resource} stays connected`);
      assert.equal(r.failures, 0, `${r.resource}: no failure counted`);
      assert.equal(r.lastError, undefined);
    }
  }
  const apiErrors = running.logs.filter((l) => typeof l.msg === 'string' && l.msg.startsWith('Kubernetes API error'));
  assert.deepEqual(apiErrors, [], 'no API error logged');
  const putOff = running.logs.filter((l) => typeof l.msg === 'string' && l.msg.includes('put off by the list answer budget'));
  assert.equal(putOff.length, 1);
  assert.equal(putOff[0]!.resource, 'nodes');
  assert.equal(putOff[0]!.retryInMs, LIST_BUDGET_RETRY_MS, 'asked again within the fixed put-off delay, not the API backoff (2 s and up here)');
  assert.equal(running.source.status().stale, false);
  assert.equal(running.source.status().healthy, true);
});

test('two paged lists whose pages are over half the budget both complete, each page asked again in place, never a list from its first page', async (t) => {
  // Pages of 4 objects of 1.2 MiB under a 6 MiB budget: 3 pages of pods of 4.8 MiB, and 4 of
  // nodes (gpu-1 and 12 more): 3.6 MiB, then 4.8 MiB twice, then 1.2 MiB.
  const server = await bigCluster(14.4 * MiB, 14.4 * MiB, 12, 12);
  t.after(() => server.close());
  const upstream = new URL(server.url);
  const budget = new ListAnswerBudget(6 * MiB);
  /** Requests without a continue token (a first page, or one asked again in place). */
  const firstPages = { pods: 0, nodes: 0 };
  const requests = { pods: 0, nodes: 0 };
  let podsCounted: () => void = () => undefined;
  const podsCountedP = new Promise<void>((r) => (podsCounted = r));
  const proxy = await listening(
    createServer((req, res) => {
      const url = new URL(req.url ?? '/', 'http://proxy');
      const which = url.pathname === '/api/v1/namespaces/cache/pods' ? 'pods' : url.pathname === '/api/v1/nodes' ? 'nodes' : undefined;
      if (which === undefined || !isList(url)) return forward(upstream, req, res);
      requests[which]++;
      const first = !url.searchParams.has('continue') && ++firstPages[which] === 1;
      res.on('error', () => undefined);
      // The lists meet for certain: the first pods page is sent but for its last KiB, and the
      // first nodes page only once the pods bytes are counted (4.8 + 3.6 MiB: past the budget); the
      // pods page ends once the nodes page was asked again. Every other answer arrives in 256 KiB
      // steps, and may meet another or not (each put-off is counted below).
      void fetchWhole(upstream, req).then(async ({ body }) => {
        if (first && which === 'nodes') await podsCountedP;
        res.writeHead(200, { 'content-type': 'application/json' });
        const tail = first && which === 'pods' ? 1024 : 0;
        const step = 256 * 1024;
        for (let at = 0; at < body.length - tail && !res.destroyed; at += step) {
          res.write(body.subarray(at, Math.min(at + step, body.length - tail)));
          await new Promise((r) => setTimeout(r, 3));
        }
        if (tail > 0) {
          await eventually('the pods page counted', () => budget.held() >= 4 * MiB, { timeoutMs: 20_000, intervalMs: 5 });
          podsCounted();
          await eventually('the nodes page asked again', () => requests.nodes >= 2, { timeoutMs: 20_000, intervalMs: 5 });
          res.write(body.subarray(body.length - tail));
        }
        res.end();
      });
    }),
  );
  t.after(() => proxy.close());
  const running = await startSource(server, {}, {
    kubeConfig: proxy.kubeConfig(),
    maxListResponseBytes: 6 * MiB,
    listAnswerBudget: budget,
    listPageSize: 4,
    listTimeoutMs: 20_000,
    initialSyncTimeoutMs: 60_000,
  });
  t.after(() => running.source.stop());
  assert.equal(running.source.current().length, 12);
  const putOff = running.logs.filter((l) => typeof l.msg === 'string' && l.msg.includes('put off by the list answer budget'));
  // 3 pages of pods and 4 of nodes: a list started again from its first page reads its pages again.
  assert.equal(requests.pods + requests.nodes, 3 + 4 + putOff.length, `each page asked once, and once more per put-off (requests: ${JSON.stringify(requests)}, first pages: ${JSON.stringify(firstPages)})`);
  assert.ok(putOff.length >= 1, `the two lists met in the budget (requests: ${JSON.stringify(requests)})`);
  assert.equal(running.source.status().healthy, true);
  assert.equal(budget.held(), 0);
});
