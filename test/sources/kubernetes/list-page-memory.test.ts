/**
 * A paged list holds at most one page untrimmed (docs/kubernetes-discovery.md "Memory"): while the
 * next page is awaited, what is left of the previous one is its trimmed items. A proxy holds the
 * second page's request, and the heap is measured meanwhile.
 */
import assert from 'node:assert/strict';
import { createServer, request, type IncomingMessage, type ServerResponse } from 'node:http';
import { test } from 'node:test';
import { heapAfterGc } from '../../support/heap.js';
import { eventually } from '../../support/eventually.js';
import { KubeApiServer } from '../../support/kube-apiserver/index.js';
import { listening } from './closing-proxy.js';
import { nodeObject, podObject, SERVICE, sliceObject } from './fixtures.js';
import { startSource } from './harness.js';

const PAGE = 100;
/** Unrelated to keyway (kubectl's last-applied-configuration): trimmed away on receipt. */
const VALUE_CHARS = 200_000;
const MB = 1024 * 1024;

test('while the next list page is awaited, the previous page is not held whole', { timeout: 60_000 }, async (t) => {
  const server = await KubeApiServer.start();
  t.after(() => server.close());
  server.upsert(nodeObject('gpu-1', { region: 'r', zone: 'z' }));
  // One page of big pods, then one pod more: the second page is held by the proxy.
  for (let i = 0; i <= PAGE; i++) {
    const annotations = { 'kubectl.kubernetes.io/last-applied-configuration': `${'x'.repeat(VALUE_CHARS - 8)}${String(i).padStart(8, '0')}` };
    server.upsert(podObject(`cache-node-${String(i).padStart(3, '0')}`, { node: 'gpu-1', ip: `10.0.0.${i + 1}`, annotations }));
  }
  server.upsert(sliceObject(`${SERVICE}-a`, []));
  server.compact();

  const held: (() => void)[] = [];
  const forward = (req: IncomingMessage, res: ServerResponse): void => {
    const upstream = new URL(server.url);
    const out = request({ host: upstream.hostname, port: upstream.port, path: req.url, method: req.method, headers: req.headers }, (up) => {
      res.writeHead(up.statusCode ?? 502, up.headers);
      up.pipe(res);
    });
    out.on('error', () => res.destroy());
    req.pipe(out);
  };
  const proxy = await listening(
    createServer((req, res) => {
      const url = req.url ?? '';
      if (url.includes('/pods?') && url.includes('continue=')) held.push(() => forward(req, res));
      else forward(req, res);
    }),
  );
  t.after(() => proxy.close());

  const before = await heapAfterGc();
  const started = startSource(server, {}, { kubeConfig: proxy.kubeConfig(), listPageSize: PAGE, listTimeoutMs: 30_000, initialSyncTimeoutMs: 30_000 });
  await eventually('the second page asked for', () => held.length === 1, { timeoutMs: 20_000 });
  const kept = (await heapAfterGc()) - before;
  for (const release of held) release();
  const running = await started;
  t.after(() => running.source.stop());

  const pageMb = (PAGE * VALUE_CHARS) / MB;
  t.diagnostic(`heap held while the second page was awaited: ${(kept / MB).toFixed(1)} MB (the first page is ${pageMb.toFixed(0)} MB)`);
  assert.ok(kept / MB < pageMb / 4, `${(kept / MB).toFixed(1)} MB held while the second page was awaited: the first page (${pageMb.toFixed(0)} MB) is still alive`);
  assert.ok(running.source.status().resources.every((r) => r.synced), 'the list completed once the page was let through');
});
