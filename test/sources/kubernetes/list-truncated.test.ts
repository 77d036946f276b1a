/**
 * A paged list that stops half-way must never become the cache: nodes missing from it would lose
 * their locality and GPU weight (every endpoint on them would fall back to defaultWeight, moving
 * shards), pods missing from it would drop their endpoints. Here a proxy in front of the API server
 * drops `metadata.continue` from the answers to node lists but keeps `remainingItemCount`, so the
 * first page says more nodes remain and still looks like the last one.
 */
import assert from 'node:assert/strict';
import { createServer, request } from 'node:http';
import { test } from 'node:test';
import { KubeApiServer } from '../../support/kube-apiserver/index.js';
import { listening } from './closing-proxy.js';
import { nodeObject, podObject, sliceObject, type SliceEndpoint } from './fixtures.js';
import { startSource } from './harness.js';

test('a list page that says objects remain but carries no continue token fails the list instead of ending it', async (t) => {
  const server = await KubeApiServer.start();
  t.after(() => server.close());
  const members: SliceEndpoint[] = [];
  for (let i = 0; i < 6; i++) {
    const node = `gpu-${i}`;
    server.upsert(nodeObject(node, { region: 'r', zone: 'z', gpuMemoryMiB: '81920', gpuCount: '8' }));
    const name = `cache-node-${i}`;
    server.upsert(podObject(name, { node, ip: `10.0.0.${i + 1}` }));
    members.push({ pod: name, ip: `10.0.0.${i + 1}`, node });
  }
  server.upsert(sliceObject('cache-node-abcde', members));

  const upstream = new URL(server.url);
  let stripped = 0;
  const proxy = await listening(
    createServer((req, res) => {
      const nodeList = /^\/api\/v1\/nodes\?/.test(req.url ?? '') && !/[?&]watch=/.test(req.url ?? '');
      const out = request({ host: upstream.hostname, port: upstream.port, path: req.url, method: req.method, headers: req.headers }, (up) => {
        if (!nodeList || up.statusCode !== 200) {
          res.writeHead(up.statusCode ?? 502, up.headers);
          up.pipe(res);
          return;
        }
        const chunks: Buffer[] = [];
        up.on('data', (c: Buffer) => chunks.push(c));
        up.on('end', () => {
          const body = JSON.parse(Buffer.concat(chunks).toString()) as { metadata: Record<string, unknown> };
          if (body.metadata.continue !== undefined) stripped++;
          delete body.metadata.continue;
          const text = JSON.stringify(body);
          res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) });
          res.end(text);
        });
      });
      out.on('error', () => res.destroy());
      req.pipe(out);
    }),
  );
  t.after(() => proxy.close());

  // Pages of 2: the six nodes take three, so the first page says 4 remain.
  const outcome = await startSource(server, {}, { kubeConfig: proxy.kubeConfig(), listPageSize: 2, initialSyncTimeoutMs: 1500, backoff: { initialMs: 20, maxMs: 200 } }).then(
    async (running) => {
      const problems = running.source.status().problems.map((p) => `${p.reason} ${p.name}`);
      await running.source.stop();
      return `started with ${running.source.current().length} endpoints, problems: ${problems.join(', ')}`;
    },
    (err: unknown) => err as Error,
  );
  assert.ok(outcome instanceof Error, `the truncated node list was taken as complete: ${String(outcome)}`);
  assert.match(outcome.message, /nodes: list of nodes: page 1 says 4 more objects remain but carries no continue token/);
  assert.ok(stripped > 0, 'the proxy dropped a continue token');
});
