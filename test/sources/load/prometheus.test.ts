// The prometheus load snapshot source against a local HTTP server standing in for Prometheus
// (docs/load-reports.md "source: prometheus"): answers that are too big, slow or junk fail the read
// with a message naming Prometheus and what was wrong, within the documented bounds.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { PrometheusLoadSource, snapshotsFromMatrix } from '../../../src/sources/load/index.js';
import { PROMETHEUS_MAX_RESPONSE_BYTES } from '../../../src/sources/load/prometheus.js';

const W = 1_000;
const T0 = 1_700_000_000_000;

async function serve(handler: (res: ServerResponse) => void): Promise<{ server: Server; url: string }> {
  const server = createServer((_req, res) => handler(res));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

function source(url: string, extra: { timeoutMs?: number } = {}): PrometheusLoadSource {
  return new PrometheusLoadSource({ url, lagMs: 0, windowMs: () => W, now: () => T0 + 10 * W, ...extra });
}

test('an answer past the size limit is refused while it is read, not after it was all held in memory', async (t) => {
  const chunk = Buffer.alloc(1024 * 1024, 0x20); // spaces: a valid JSON prefix that never ends
  const total = 3 * PROMETHEUS_MAX_RESPONSE_BYTES;
  let sent = 0;
  const { server, url } = await serve((res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    const pump = (): void => {
      while (sent < total && !res.destroyed) {
        sent += chunk.length;
        if (!res.write(chunk)) return void res.once('drain', pump);
      }
      res.end();
    };
    res.on('close', () => undefined);
    pump();
  });
  t.after(() => new Promise<void>((r) => server.close(() => r())));
  const src = source(url);
  t.after(() => src.close());
  await assert.rejects(src.latest(4), (err: Error) => {
    assert.match(err.message, /Prometheus http:\/\/127\.0\.0\.1:\d+: answer is over the 16777216-byte limit/);
    return true;
  });
  server.closeAllConnections();
  assert.ok(sent < total, `the read stopped early (${sent} of ${total} bytes sent)`);
});

test('an answer whose Content-Length is past the limit is refused before its body is read', async (t) => {
  const { server, url } = await serve((res) => {
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': String(PROMETHEUS_MAX_RESPONSE_BYTES + 1) });
    res.write('{');
  });
  t.after(() => new Promise<void>((r) => server.close(() => r())));
  t.after(() => server.closeAllConnections());
  const src = source(url);
  t.after(() => src.close());
  await assert.rejects(src.latest(4), /answer is over the 16777216-byte limit/);
});

test('a body that trickles in slower than the query timeout fails the read', async (t) => {
  const { server, url } = await serve((res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.write('{"status":');
  });
  t.after(() => new Promise<void>((r) => server.close(() => r())));
  t.after(() => server.closeAllConnections());
  const src = source(url, { timeoutMs: 200 });
  t.after(() => src.close());
  const started = Date.now();
  await assert.rejects(src.latest(4), /Prometheus .*: (no complete answer within 200 ms|.*timeout|.*abort)/i);
  assert.ok(Date.now() - started < 3_000);
});

test('a Prometheus error answer is reported with its errorType and error', async (t) => {
  const { server, url } = await serve((res) => {
    res.writeHead(422, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ status: 'error', errorType: 'execution', error: 'query processing would load too many samples into memory' }));
  });
  t.after(() => new Promise<void>((r) => server.close(() => r())));
  const src = source(url);
  t.after(() => src.close());
  await assert.rejects(src.latest(4), /HTTP 422: execution: query processing would load too many samples into memory/);
});

test('shard labels that are not decimal shard numbers are ignored', () => {
  const t1 = (T0 + 2 * W) / 1000;
  const snaps = snapshotsFromMatrix(
    [
      { metric: { shard: '7' }, values: [[t1, '10']] },
      { metric: { shard: '0x10' }, values: [[t1, '5']] },
      { metric: { shard: '1e3' }, values: [[t1, '5']] },
      { metric: { shard: '07' }, values: [[t1, '5']] },
      { metric: { shard: ' 8' }, values: [[t1, '5']] },
      { metric: { shard: '-1' }, values: [[t1, '5']] },
      { metric: { shard: '2.5' }, values: [[t1, '5']] },
      { metric: { node: 'a' }, values: [[t1, '-3'], ] },
      { metric: { node: 'b' }, values: [[t1, 'NaN']] },
      { metric: { node: 'c' }, values: [[t1, '+Inf']] },
      { metric: { node: 'd' }, values: [[t1, '4']] },
      { metric: { load: 'window' }, values: [[t1, String(T0 / 1000)]] },
    ],
    W,
  );
  assert.deepEqual(snaps, [{ windowStartMs: T0, windowMs: W, shards: [{ shard: 7, requests: 10 }], nodes: [{ nodeId: 'd', requests: 4 }] }]);
});
