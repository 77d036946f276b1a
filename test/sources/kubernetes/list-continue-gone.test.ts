/**
 * Only a 410 whose Status reason is `Expired` on a continue request says the list's snapshot was
 * compacted away, which an unpaged list replaces (client-go's pager: `errors.IsResourceExpired`
 * and `FullListIfExpired`). Another 410 on page 2 or later (reason `Gone`, "too old resource
 * version", or a proxy's bare 410) is an error like any other: the list is retried, paged, with
 * backoff, and never falls back to one unpaged request (held whole and untrimmed).
 */
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { test } from 'node:test';
import { KubeApiServer } from '../../support/kube-apiserver/index.js';
import { forward, listening } from './closing-proxy.js';
import { populate, podLists } from './fixtures.js';
import { startSource, stopAfterEach } from './harness.js';

const started = stopAfterEach();

const unpaged = (r: { query: Readonly<Record<string, string>> }): boolean => r.query.limit === undefined && r.query.continue === undefined;

for (const [what, body] of [
  ['reason Gone', JSON.stringify({ kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: 'too old resource version: 5 (9)', reason: 'Gone', code: 410 })],
  ['a body that is no Status', 'gone'],
] as const) {
  test(`a 410 with ${what} on a continue request is retried paged with backoff, not answered by an unpaged list`, async (t) => {
    const server = (started.server = await KubeApiServer.start());
    populate(server, 12);
    const upstream = new URL(server.url);
    // The first two continue requests of pods are refused with this 410; then the proxy forwards.
    let refused = 0;
    const proxy = await listening(
      createServer((req, res) => {
        const url = new URL(req.url ?? '/', 'http://proxy');
        if (url.pathname.endsWith('/pods') && url.searchParams.has('continue') && refused < 2) {
          refused++;
          res.writeHead(410, { 'Content-Type': body.startsWith('{') ? 'application/json' : 'text/plain' });
          res.end(body);
          return;
        }
        forward(upstream, req, res);
      }),
    );
    t.after(() => proxy.close());
    const running = (started.running = await startSource(server, {}, { kubeConfig: proxy.kubeConfig(), listPageSize: 4, initialSyncTimeoutMs: 4000 }));
    assert.equal(running.source.current().length, 12);
    assert.equal(refused, 2);
    assert.equal(podLists(server).filter(unpaged).length, 0, 'no unpaged list');
    const retried = running.logs.filter((l) => l.resource === 'pods' && typeof l.error === 'string' && l.error.startsWith('HTTP 410'));
    assert.equal(retried.length, 2, JSON.stringify(retried));
    for (const l of retried) {
      assert.ok(typeof l.retryInMs === 'number' && l.retryInMs > 0, `retried after a backoff delay: ${JSON.stringify(l)}`);
      assert.ok(!String(l.error).includes('without paging'), String(l.error));
    }
  });
}
