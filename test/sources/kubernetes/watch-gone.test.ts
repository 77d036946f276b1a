/**
 * A watch refused with HTTP 410 Gone (not an ERROR event in a 200 stream): what a server or proxy
 * answers when it no longer has the requested resourceVersion. The informer relists, as it must;
 * when every watch is refused that way, the relists back off instead of looping list, watch, 410,
 * list against the API server.
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { eventually } from '../../support/eventually.js';
import { Cluster, startSource } from './harness.js';
import { forward, listening, type ApiServerProxy } from './closing-proxy.js';

/** Passes lists through to `target`; answers watches 410 Gone while `refusing()` says so. */
async function goneProxy(target: string, refusing: () => boolean): Promise<ApiServerProxy> {
  const upstream = new URL(target);
  const server: Server = createServer((req, res) => {
    if (/[?&]watch=(true|1)(&|$)/.test(req.url ?? '') && refusing()) {
      const body = JSON.stringify({ kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: 'too old resource version', reason: 'Expired', code: 410 });
      res.writeHead(410, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) });
      res.end(body);
      return;
    }
    forward(upstream, req, res);
  });
  return listening(server);
}

test('every watch answered 410 Gone: relists back off, changes still arrive, and a watch that holds ends it', async (t) => {
  const cluster = await Cluster.start();
  t.after(() => cluster.close());
  cluster.node('gpu-a1', { region: 'r1', zone: 'z1' });
  cluster.addPod('cache-node-0', { node: 'gpu-a1', ip: '10.0.0.10' });
  let refusing = true;
  const proxy = await goneProxy(cluster.server.url, () => refusing);
  t.after(() => proxy.close());
  const running = await startSource(cluster.server, {}, { kubeConfig: proxy.kubeConfig() }); // backoff 20 ms doubling to 200 ms
  t.after(() => running.source.stop());

  const lists = (): number => cluster.server.requests.filter((r) => r.verb === 'list').length;
  const before = lists();
  await sleep(1_500);
  const relists = lists() - before;
  // Backing off to 200 ms: about 12 per resource in 1.5 s; in a loop, thousands.
  assert.ok(relists <= 60, `${relists} list requests in 1.5 s`);

  // Each relist still brings the cluster's state.
  cluster.addPod('cache-node-1', { node: 'gpu-a1', ip: '10.0.0.11' });
  await eventually('the new pod', () => running.source.current().length === 2, { timeoutMs: 5000, describe: () => running.source.current() });

  // Watches accepted again: they stay open and carry the changes.
  refusing = false;
  await eventually('watches open', () => cluster.server.openWatches() === 3, { timeoutMs: 5000 });
  const settled = lists();
  cluster.addPod('cache-node-2', { node: 'gpu-a1', ip: '10.0.0.12' });
  await eventually('the third pod', () => running.source.current().length === 3, { timeoutMs: 5000, describe: () => running.source.current() });
  assert.equal(lists(), settled, 'no relist once watches hold');
});
