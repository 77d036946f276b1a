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

test('a window that has not ended by keyway\'s clock is skipped and logged with how far ahead it is', async (t) => {
  // keyway's clock: T0 + 10W, lagMs 0, so the read ends at step T0 + 10W and only windows ended by then count.
  const step = (T0 + 9 * W) / 1000;
  const last = (T0 + 10 * W) / 1000;
  const ahead = T0 + 3_600_000; // a replica (or Prometheus) an hour ahead
  let asked: URLSearchParams | undefined;
  const { server, url } = await serve((res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(
      JSON.stringify({
        status: 'success',
        data: {
          resultType: 'matrix',
          result: [
            { metric: { shard: '3' }, values: [[step, '8'], [last, '9000']] },
            { metric: { node: 'a' }, values: [[step, '8'], [last, '9000']] },
            { metric: { load: 'window' }, values: [[step, String((T0 + 8 * W) / 1000)], [last, String(ahead / 1000)]] },
          ],
        },
      }),
    );
  });
  server.on('request', (req) => (asked = new URL(req.url!, 'http://x').searchParams));
  t.after(() => new Promise<void>((r) => server.close(() => r())));
  const warnings: string[] = [];
  const src = new PrometheusLoadSource({ url, lagMs: 0, windowMs: () => W, now: () => T0 + 10 * W + 300, onWarning: (e) => warnings.push(e.message) });
  t.after(() => src.close());
  const snaps = await src.latest(4, 3);
  assert.equal(asked?.get('end'), String(last), 'the stand-in was asked for the aligned end');
  assert.deepEqual(snaps, [{ windowStartMs: T0 + 8 * W, windowMs: W, shards: [{ shard: 3, requests: 8 }], nodes: [{ nodeId: 'a', requests: 8 }] }]);
  assert.equal(warnings.length, 1);
  assert.match(warnings[0]!, /skipped 1 window\(s\) that had not ended by keyway's clock \(2023-11-14T22:13:30\.000Z/);
  assert.match(warnings[0]!, new RegExp(`window ${new Date(ahead).toISOString()} of 1000 ms read at step ${new Date(last * 1000).toISOString()}, ends ${ahead + W - (T0 + 10 * W)} ms after it: the clocks`));

  // The window in progress (it ends after keyway's clock) is not read either.
  const open = snapshotsFromMatrix([{ metric: { load: 'window' }, values: [[last, String((T0 + 10 * W) / 1000)]] }], W, { notAfterMs: T0 + 10 * W });
  assert.deepEqual(open, []);
});
