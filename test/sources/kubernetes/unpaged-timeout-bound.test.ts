/**
 * The unpaged fallback's time bound follows the paged list's last remainingItemCount, a figure the
 * API server, or a proxy in between, reports: an absurd one (1e12 objects left) must not make the
 * bound absurd. Past Node's timer range (2^31 - 1 ms, 24.8 days) a timer fires after 1 ms, so the
 * fallback was aborted at once; within it, a stalled unpaged answer held the informer for days.
 * The bound is at most MAX_UNPAGED_LIST_TIMEOUT_MS, and says so.
 */
import assert from 'node:assert/strict';
import { createServer, get } from 'node:http';
import { test } from 'node:test';
import { MAX_UNPAGED_LIST_TIMEOUT_MS, unpagedTimeoutMs } from '../../../src/sources/kubernetes/informer.js';
import { KubeApiServer } from '../../support/kube-apiserver/index.js';
import { forward, listening } from './closing-proxy.js';
import { populate, podLists } from './fixtures.js';
import { startSource, stopAfterEach } from './harness.js';

const started = stopAfterEach();

const unpaged = (r: { query: Readonly<Record<string, string>> }): boolean => r.query.limit === undefined && r.query.continue === undefined;

test('an absurd or invalid remainingItemCount gives the unpaged fallback a bounded time, within the timer range', () => {
  assert.equal(MAX_UNPAGED_LIST_TIMEOUT_MS, 3_600_000);
  for (const remaining of [1e12, Number.MAX_VALUE]) {
    const t = unpagedTimeoutMs(30_000, 24, remaining, 500);
    assert.equal(t.ms, MAX_UNPAGED_LIST_TIMEOUT_MS, String(remaining));
    assert.match(t.why, /, at most 3600000 ms$/, t.why);
  }
  // Without a limit or a positive count the bound is one page more, and says the count is unknown.
  for (const remaining of [-5, 0, Number.NaN, Number.POSITIVE_INFINITY, undefined]) {
    const t = unpagedTimeoutMs(30_000, 3, remaining, 500);
    assert.equal(t.ms, 4 * 30_000, String(remaining));
    assert.match(t.why, /3 read, 1 or more left$/, `${String(remaining)}: ${t.why}`);
  }
  // Under the cap the figures are unchanged.
  assert.equal(unpagedTimeoutMs(30_000, 24, 2000, 500).ms, 28 * 30_000);
});

test('a page that says 1e12 objects remain does not abort the unpaged fallback at once', async (t) => {
  const server = (started.server = await KubeApiServer.start());
  populate(server, 12);
  const upstream = new URL(server.url);
  // Page 1 of pods says 1e12 objects remain; the continue request that follows is answered 410
  // Expired (the snapshot compacted away); the unpaged list then takes 300 ms to answer.
  let expired = 0;
  const proxy = await listening(
    createServer((req, res) => {
      const url = new URL(req.url ?? '/', 'http://proxy');
      const pods = url.pathname.endsWith('/pods') && url.searchParams.get('watch') !== 'true';
      if (pods && url.searchParams.has('limit') && !url.searchParams.has('continue')) {
        get({ host: upstream.hostname, port: upstream.port, path: req.url, headers: req.headers }, (up) => {
          const chunks: Buffer[] = [];
          up.on('data', (c: Buffer) => chunks.push(c));
          up.on('end', () => {
            const page = JSON.parse(Buffer.concat(chunks).toString()) as { metadata: Record<string, unknown> };
            page.metadata.remainingItemCount = 1e12;
            res.writeHead(up.statusCode ?? 502, { 'Content-Type': 'application/json' });
            res.end(JSON.stringify(page));
          });
        });
        return;
      }
      if (pods && url.searchParams.has('continue') && expired === 0) {
        expired++;
        res.writeHead(410, { 'Content-Type': 'application/json' });
        res.end(JSON.stringify({ kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: 'The provided continue parameter is too old', reason: 'Expired', code: 410 }));
        return;
      }
      if (pods && !url.searchParams.has('limit')) {
        setTimeout(() => forward(upstream, req, res), 300);
        return;
      }
      forward(upstream, req, res);
    }),
  );
  t.after(() => proxy.close());
  const running = (started.running = await startSource(server, {}, { kubeConfig: proxy.kubeConfig(), listPageSize: 4, initialSyncTimeoutMs: 8000 }));
  assert.equal(running.source.current().length, 12);
  assert.equal(expired, 1);
  // Before the bound, the fallback's timer fired after 1 ms and aborted the unpaged list.
  const otherErrors = running.logs.filter((l) => typeof l.error === 'string' && !l.error.includes('without paging'));
  assert.deepEqual(otherErrors, [], 'the unpaged list was not aborted');
  assert.equal(podLists(server).filter(unpaged).length, 1, 'one unpaged list, which completed');
  const fallback = running.logs.filter((l) => l.resource === 'pods' && typeof l.error === 'string' && l.error.includes('without paging'));
  assert.equal(fallback.length, 1);
  assert.match(String(fallback[0]!.error), /listing again in one request without paging, within 3600000 ms\)$/);
});
