/**
 * A proxy in front of the API server that drops the `continue` parameter of list requests: the
 * server answers the first page again, with a continue token, every time. The paged list must
 * fail and back off, not page on forever (holding ever more copies of the first page and asking
 * the API server as fast as it answers).
 */
import assert from 'node:assert/strict';
import { createServer, request } from 'node:http';
import { test } from 'node:test';
import { KubeApiServer } from '../../support/kube-apiserver/index.js';
import { listening } from './closing-proxy.js';
import { nodeObject, podObject, sliceObject, type SliceEndpoint } from './fixtures.js';
import { startSource } from './harness.js';

test('a list whose continue parameter is dropped fails, naming why, and is retried with backoff rather than paged forever', async (t) => {
  const server = await KubeApiServer.start();
  t.after(() => server.close());
  server.upsert(nodeObject('gpu-1', { region: 'r', zone: 'z' }));
  const members: SliceEndpoint[] = [];
  for (let i = 0; i < 4; i++) {
    const name = `cache-node-${i}`;
    server.upsert(podObject(name, { node: 'gpu-1', ip: `10.0.0.${i + 1}` }));
    members.push({ pod: name, ip: `10.0.0.${i + 1}`, node: 'gpu-1' });
  }
  server.upsert(sliceObject('cache-node-abcde', members));

  const upstream = new URL(server.url);
  let continued = 0;
  const proxy = await listening(
    createServer((req, res) => {
      const url = new URL(req.url ?? '/', 'http://proxy');
      if (url.searchParams.has('continue')) {
        continued++;
        url.searchParams.delete('continue');
      }
      const out = request({ host: upstream.hostname, port: upstream.port, path: url.pathname + url.search, method: req.method, headers: req.headers }, (up) => {
        res.writeHead(up.statusCode ?? 502, up.headers);
        up.pipe(res);
      });
      out.on('error', () => res.destroy());
      req.pipe(out);
    }),
  );
  t.after(() => proxy.close());

  // Pages of 2: the four pods take two, so the second page asks with `continue`.
  await assert.rejects(
    startSource(server, {}, { kubeConfig: proxy.kubeConfig(), listPageSize: 2, initialSyncTimeoutMs: 2000, backoff: { initialMs: 20, maxMs: 200 } }),
    // Whether the cap finds the list backing off ("pods: list of pods: ...") or read again
    // ("pods: still listing (...), after list of pods: ..."), the error names why.
    /pods: (still listing \(.*\), after )?list of pods: page 2 repeats cache\/cache-node-0 of an earlier page: the API server, or a proxy in between, ignores the continue parameter/,
  );
  // Each failed list waits out its backoff (20 ms doubling to 200 ms): a few dozen in 2 s, not thousands.
  assert.ok(continued > 0 && continued < 100, `${continued} list pages asked with continue`);
});
