/**
 * Answers that never end, from an API server or a proxy in between:
 * - a watch line without a newline: the client library splits the stream with readline, which
 *   held the whole line, so keyway's memory grew with every byte until the process died;
 * - a list body: the generated client reads it whole before parsing, for as long as the page's
 *   listTimeoutMs allows (gigabytes on a fast link).
 * Past its bound (maxWatchLineBytes, maxListResponseBytes), each must fail the request, which is
 * retried with backoff and named in the log, and the source keep working.
 */
import assert from 'node:assert/strict';
import { createServer, type Server, type ServerResponse } from 'node:http';
import { test } from 'node:test';
import { eventually } from '../../support/eventually.js';
import { Cluster, startSource } from './harness.js';
import { forward, listening, type ApiServerProxy } from './closing-proxy.js';

const BOUND = 256 * 1024;
/** The most the endless line sends: far past the bound, and bounded itself. */
const SEND_CAP = 64 * 1024 * 1024;

/** Writes `head`, then bytes without a newline until the client goes away or SEND_CAP bytes are sent; then holds the stream open. */
async function endlessLine(res: ServerResponse, sent: { bytes: number; closed: boolean }, head = '{"type":"ADDED","object":{"metadata":{"name":"'): Promise<void> {
  res.on('close', () => (sent.closed = true));
  const chunk = Buffer.alloc(64 * 1024, 'a');
  res.write(head);
  sent.bytes += head.length;
  while (!sent.closed && sent.bytes < SEND_CAP) {
    sent.bytes += chunk.length;
    if (!res.write(chunk)) await new Promise<void>((resolve) => (res.once('drain', resolve), res.once('close', resolve)));
  }
}

/** Passes everything through to `target`, except that the first request `endless` picks gets an endless answer. */
async function endlessProxy(target: string, sent: { bytes: number; closed: boolean }, endless: (url: string, watch: boolean) => string | undefined): Promise<ApiServerProxy> {
  const upstream = new URL(target);
  let done = false;
  const server: Server = createServer((req, res) => {
    const watch = /[?&]watch=(true|1)(&|$)/.test(req.url ?? '');
    const head = done ? undefined : endless(req.url ?? '', watch);
    if (head !== undefined) {
      done = true;
      res.writeHead(200, { 'Content-Type': 'application/json' });
      void endlessLine(res, sent, head);
      return;
    }
    forward(upstream, req, res);
  });
  return listening(server);
}

test('a watch line past maxWatchLineBytes fails the watch, which is opened again; the source keeps working', async (t) => {
  const cluster = await Cluster.start();
  t.after(() => cluster.close());
  cluster.node('gpu-a1', { region: 'r1', zone: 'z1' });
  cluster.addPod('cache-node-0', { node: 'gpu-a1', ip: '10.0.0.10' });
  const sent = { bytes: 0, closed: false };
  const proxy = await endlessProxy(cluster.server.url, sent, (url, watch) => (watch && url.includes('/pods?') ? '{"type":"ADDED","object":{"metadata":{"name":"' : undefined));
  t.after(() => proxy.close());
  const running = await startSource(cluster.server, {}, { kubeConfig: proxy.kubeConfig(), maxWatchLineBytes: BOUND });
  t.after(() => running.source.stop());

  await eventually('the endless watch closed by the client', () => sent.closed, { timeoutMs: 8000, describe: () => sent });
  // What the client read is at most the bound; the rest sat in socket buffers when it hung up.
  assert.ok(sent.bytes < 16 * 1024 * 1024, `${sent.bytes} bytes sent before the client hung up`);
  const warned = running.logs.filter((l) => l.resource === 'pods' && typeof l.error === 'string' && l.error.includes(`watch event line longer than ${BOUND} bytes`));
  assert.ok(warned.length >= 1, 'the failed watch is logged');
  await eventually('pods watched again', () => cluster.server.openWatches('pods') === 1, { timeoutMs: 5000 });
  cluster.addPod('cache-node-1', { node: 'gpu-a1', ip: '10.0.0.11' });
  await eventually('the new pod', () => running.source.current().length === 2, { timeoutMs: 5000 });
  assert.match(running.source.status().lastError ?? '', /^pods: watch event line longer than 262144 bytes without a newline/);
});

test('a list answer past maxListResponseBytes fails the list, which is retried; the source starts', async (t) => {
  const cluster = await Cluster.start();
  t.after(() => cluster.close());
  cluster.node('gpu-a1', { region: 'r1', zone: 'z1' });
  cluster.addPod('cache-node-0', { node: 'gpu-a1', ip: '10.0.0.10' });
  const sent = { bytes: 0, closed: false };
  const proxy = await endlessProxy(cluster.server.url, sent, (url, watch) =>
    !watch && url.startsWith('/api/v1/nodes') ? '{"kind":"NodeList","apiVersion":"v1","metadata":{"resourceVersion":"1"},"items":[{"metadata":{"name":"' : undefined,
  );
  t.after(() => proxy.close());
  // A list timeout far longer than the test: only the bound can end the endless answer in time.
  const running = await startSource(cluster.server, {}, { kubeConfig: proxy.kubeConfig(), maxListResponseBytes: BOUND, listTimeoutMs: 60_000, initialSyncTimeoutMs: 30_000 });
  t.after(() => running.source.stop());

  assert.deepEqual(running.source.current().map((e) => e.id), ['cache-node-0']);
  await eventually('the endless list closed by the client', () => sent.closed, { timeoutMs: 5000, describe: () => sent });
  assert.ok(sent.bytes < 16 * 1024 * 1024, `${sent.bytes} bytes sent before the client hung up`);
  const warned = running.logs.filter((l) => l.resource === 'nodes' && typeof l.error === 'string' && l.error.includes(`list answer larger than ${BOUND} bytes from /api/v1/nodes`));
  assert.equal(warned.length, 1, 'the failed list is logged');
  assert.equal(cluster.server.requests.filter((r) => r.verb === 'list' && r.resource === 'nodes').length, 1, 'the retry reached the server');
});
