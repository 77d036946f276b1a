/**
 * A watch line whose event carries no object (`{"type":"BOOKMARK"}`, `{"type":"ERROR"}`): what a
 * broken API server or a proxy rewriting the stream may send. ListWatch's event handler is an
 * async function the Watch calls without awaiting, and it reads `obj.metadata` (`obj.code` for
 * ERROR): the TypeError became an unhandled rejection, which ends the keyway process. Such an
 * event must be dropped like a line that does not parse, and the source keep running.
 */
import assert from 'node:assert/strict';
import { createServer, request, type Server } from 'node:http';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { eventually } from '../../support/eventually.js';
import { Cluster, startSource } from './harness.js';
import { listening, type ApiServerProxy } from './closing-proxy.js';

/** Passes everything through to `target`, but first writes `line` at the start of every watch stream. */
async function injectingProxy(target: string, line: string): Promise<ApiServerProxy> {
  const upstream = new URL(target);
  const server: Server = createServer((req, res) => {
    const watch = /[?&]watch=(true|1)(&|$)/.test(req.url ?? '');
    const out = request({ host: upstream.hostname, port: upstream.port, path: req.url, method: req.method, headers: req.headers }, (up) => {
      const headers = { ...up.headers };
      if (watch) delete headers['content-length'];
      res.writeHead(up.statusCode ?? 502, headers);
      if (watch && up.statusCode === 200) res.write(`${line}\n`);
      up.pipe(res);
    });
    out.on('error', () => res.destroy());
    res.on('close', () => out.destroy());
    req.pipe(out);
  });
  return listening(server);
}

for (const line of ['{"type":"BOOKMARK"}', '{"type":"ERROR"}', '{"type":"BOOKMARK","object":null}']) {
  test(`a watch event without an object (${line}) is dropped: no unhandled rejection, changes still arrive`, async (t) => {
    const rejections: unknown[] = [];
    const onRejection = (reason: unknown): void => void rejections.push(reason);
    process.on('unhandledRejection', onRejection);
    t.after(() => process.off('unhandledRejection', onRejection));
    const cluster = await Cluster.start();
    t.after(() => cluster.close());
    cluster.node('gpu-a1', { region: 'r1', zone: 'z1' });
    cluster.addPod('cache-node-0', { node: 'gpu-a1', ip: '10.0.0.10' });
    const proxy = await injectingProxy(cluster.server.url, line);
    t.after(() => proxy.close());
    const running = await startSource(cluster.server, {}, { kubeConfig: proxy.kubeConfig() });
    t.after(() => running.source.stop());

    await eventually('watches open', () => cluster.server.openWatches() >= 3, { timeoutMs: 5000 });
    await sleep(100);
    assert.deepEqual(rejections.map(String), [], 'no unhandled rejection');
    cluster.addPod('cache-node-1', { node: 'gpu-a1', ip: '10.0.0.11' });
    await eventually('the new pod', () => running.source.current().length === 2, { timeoutMs: 5000 });
  });
}
