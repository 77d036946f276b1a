// close() while a reload's job is under way (it waits for the Kubernetes source it replaces to
// stop): once the job resumes, nothing is left to feed, so it must not apply the new file's
// settings. Applying them rebuilt the load snapshot source the shutdown had just closed: a
// Prometheus source then queried Prometheus at every window, for good, after close() returned.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { startServer } from '../../src/app/index.js';
import { tempTopology, topologyText } from '../serve/support.js';
import { HeldStopSource, pods } from './set-source.js';

test('a reload job under way when close() begins does not rebuild the load source after the shutdown', async (t) => {
  let queries = 0;
  const prometheus = createServer((_req, res) => {
    queries++;
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ status: 'success', data: { resultType: 'vector', result: [] } }));
  });
  await new Promise<void>((resolve) => prometheus.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise<void>((resolve) => prometheus.close(() => resolve())));
  const url = `http://127.0.0.1:${(prometheus.address() as AddressInfo).port}`;

  const topo = await tempTopology('shards: 64\nreplicas: 2\nkubernetes:\n  services: [a]\n');
  t.after(() => topo.cleanup());
  const a = new HeldStopSource();
  a.endpoints = pods(4);
  const server = await startServer({
    configFile: topo.file,
    httpPort: 0,
    host: '127.0.0.1',
    kubernetesSource: () => a,
    fileWatch: { pollIntervalMs: 0, debounce: { holdOffMs: 10_000, maxDelayMs: 10_000 } },
  });
  // Back to the file, with Prometheus as the load source: the job waits for `a` to stop.
  await topo.write(topologyText({ extra: `hotShards:\n  windowMs: 1000\n  snapshot: {source: prometheus, url: "${url}"}` }));
  await server.reload();
  await a.stopping;
  const closed = server.close();
  await sleep(20);
  a.release();
  await closed;
  await sleep(300);
  assert.equal(queries, 0, 'Prometheus was queried after close()');
});
