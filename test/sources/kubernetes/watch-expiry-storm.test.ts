/**
 * Watches expired (410 Gone) in a row during a storm that outruns the API server's history: the
 * informer relists and must start its next watch right after the list, from the list's
 * resourceVersion. Waiting between the two (the backoff after a run of early ends) let the history
 * pass the list again, so every resume was expired in turn until the storm ended.
 */
import assert from 'node:assert/strict';
import { createServer, request, type Server } from 'node:http';
import { test } from 'node:test';
import { KubeApiServer } from '../../support/kube-apiserver/index.js';
import { eventually } from '../../support/eventually.js';
import { startSource } from './harness.js';
import { listening, type ApiServerProxy } from './closing-proxy.js';
import { StormCluster } from './storm-cluster.js';

/** How long the server's history reaches back during the storm: a watch resuming from a list older than this is expired. */
const HISTORY_MS = 200;

/**
 * Passes every request through to the server; a watch that arrives more than HISTORY_MS after its
 * resource's last list finds the history compacted past that list (the storm wrote meanwhile).
 */
async function stormProxy(server: KubeApiServer, storm: () => void): Promise<ApiServerProxy> {
  const upstream = new URL(server.url);
  const listedAt = new Map<string, number>();
  const proxy: Server = createServer((req, res) => {
    const url = req.url ?? '';
    const resource = new URL(url, 'http://x').pathname.split('/').pop() ?? '';
    if (/[?&]watch=(true|1)(&|$)/.test(url)) {
      if (Date.now() - (listedAt.get(resource) ?? Date.now()) > HISTORY_MS) {
        storm();
        server.compact();
      }
    } else listedAt.set(resource, Date.now());
    const out = request({ host: upstream.hostname, port: upstream.port, path: url, method: req.method, headers: req.headers }, (up) => {
      res.writeHead(up.statusCode ?? 502, up.headers);
      up.pipe(res);
    });
    out.on('error', () => res.destroy());
    res.on('close', () => out.destroy());
    req.pipe(out);
  });
  return listening(proxy);
}

test('after watches expire twice in a row, the relist waits out the backoff and the watch after it resumes', async (t) => {
  const server = await KubeApiServer.start();
  t.after(() => server.close());
  const cluster = new StormCluster(server, 20, 5);
  let beat = 0;
  const proxy = await stormProxy(server, () => cluster.heartbeat(cluster.pods[beat++ % 20]!));
  t.after(() => proxy.close());
  // The second early end in a row waits 400 to 800 ms: more than the history reaches back.
  const running = await startSource(server, {}, { kubeConfig: proxy.kubeConfig(), backoff: { initialMs: 800, maxMs: 3000 } });
  t.after(() => running.source.stop());
  const podLists = (): number => server.requests.filter((r) => r.verb === 'list' && r.resource === 'pods').length;

  await eventually('watches open', () => server.openWatches() === 3);
  server.expireWatches();
  await eventually('watches open after the first expiry', () => server.openWatches() === 3);
  const before = podLists();
  server.expireWatches();
  await eventually('the pods watch open after the second expiry', () => server.openWatches('pods') === 1, {
    timeoutMs: 8000,
    describe: () => ({ podLists: podLists() - before, logs: running.logs.filter((l) => l.level === 40).map((l) => l.error).slice(-3) }),
  });
  assert.equal(podLists() - before, 1, 'one relist of the pods');
  assert.ok(
    running.logs.some((l) => typeof l.error === 'string' && l.error.startsWith('watch expired (410 Gone) after')),
    'the wait names the expiry',
  );
  // The watch carries changes again.
  cluster.beginDelete(cluster.pods[3]!);
  await eventually('a change after the resume', () => running.source.current().find((e) => e.id === 'cache-node-3')?.ready === false);
});
