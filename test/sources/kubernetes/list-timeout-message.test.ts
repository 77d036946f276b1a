/**
 * A list request cut at its time bound fails with what bound it hit, as the docs show it (`list not
 * complete within 30000 ms`, and for the unpaged fallback `unpaged list not complete within 720000
 * ms (30000 ms for each of the 24 pages ...)`): the retry log, the source's status and a failed
 * start name it. node-fetch drops the abort reason, so every timed-out list said only `The user
 * aborted a request.`, before the answer's headers or midway through its body alike.
 */
import assert from 'node:assert/strict';
import { createServer, get } from 'node:http';
import { test } from 'node:test';
import { describeError } from '../../../src/sources/kubernetes/informer.js';
import { KubeApiServer } from '../../support/kube-apiserver/index.js';
import { forward, listening } from './closing-proxy.js';
import { populate } from './fixtures.js';
import { startSource, stopAfterEach } from './harness.js';

const started = stopAfterEach();

test('a timed-out list page and a timed-out unpaged fallback each fail naming their bound', async (t) => {
  const server = (started.server = await KubeApiServer.start({ continueExpiresAtPage: 2 }));
  populate(server, 12);
  const upstream = new URL(server.url);
  let firstPage = 0;
  let unpagedLists = 0;
  const proxy = await listening(
    createServer((req, res) => {
      const url = new URL(req.url ?? '/', 'http://proxy');
      const pods = url.pathname.endsWith('/pods') && url.searchParams.get('watch') !== 'true';
      // The first page of the first pods list never answers (no headers).
      if (pods && url.searchParams.has('limit') && !url.searchParams.has('continue') && firstPage++ === 0) return;
      // The first unpaged fallback sends its headers and part of its body, then stalls.
      if (pods && !url.searchParams.has('limit') && unpagedLists++ === 0) {
        get({ host: upstream.hostname, port: upstream.port, path: req.url, headers: req.headers }, (up) => {
          const chunks: Buffer[] = [];
          up.on('data', (c: Buffer) => chunks.push(c));
          up.on('end', () => {
            res.writeHead(200, { 'Content-Type': 'application/json' });
            res.write(Buffer.concat(chunks).subarray(0, 100));
          });
        });
        return;
      }
      forward(upstream, req, res);
    }),
  );
  t.after(() => proxy.close());
  const running = (started.running = await startSource(server, {}, { kubeConfig: proxy.kubeConfig(), listPageSize: 4, listTimeoutMs: 300, initialSyncTimeoutMs: 10_000 }));
  assert.equal(running.source.current().length, 12);
  const errors = running.logs.filter((l) => l.resource === 'pods' && typeof l.error === 'string').map((l) => String(l.error));
  // The first list: page 1 timed out. The second: page 2 expired (410), the fallback timed out
  // (1 page read, 8 objects left in pages of 4: 3 pages of 300 ms). The third expired again, and its fallback completed.
  assert.equal(errors[0], 'list not complete within 300 ms');
  assert.match(errors[1]!, /^HTTP 410: .*listing again in one request without paging, within 900 ms\)$/);
  assert.equal(errors[2], 'unpaged list not complete within 900 ms (300 ms for each of the 3 pages of the paged list whose continue token expired: 1 read, 2 left)');
  assert.ok(!errors.some((e) => e.includes('aborted')), errors.join('\n'));
});

test('describeError gives a DOMException its message, not its legacy numeric code as an HTTP status', () => {
  assert.equal(describeError(new DOMException('list not complete within 300 ms', 'TimeoutError')), 'list not complete within 300 ms');
});
