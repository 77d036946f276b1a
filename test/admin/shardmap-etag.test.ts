import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { startServer } from '../../src/app/index.js';
import { ifNoneMatchHits, strongEtag, weakEtag } from '../../src/admin/etag.js';
import { ShardMapPoller } from '../../examples/cache-node/shardmap-poller.js';
import { tempTopology, topologyText } from '../serve/support.js';
import { eventually } from '../support/eventually.js';

const FAST = { debounce: { holdOffMs: 20, maxDelayMs: 100 }, pollIntervalMs: 100 };

async function keywayWith(t: { after(fn: () => Promise<void>): void }) {
  const topo = await tempTopology(topologyText({ shards: 1024, replicas: 2 }));
  const server = await startServer({ configFile: topo.file, httpPort: 0, host: '127.0.0.1', fileWatch: FAST });
  t.after(async () => {
    await server.close();
    await topo.cleanup();
  });
  return { server, topo, url: `http://127.0.0.1:${server.httpPort}` };
}

test('If-None-Match: a listed tag, W/ ignored, * matches; an absent or other tag does not', () => {
  const tag = strongEtag('a');
  assert.match(tag, /^"[0-9a-f]{32}"$/);
  assert.notEqual(tag, strongEtag('b'));
  assert.notEqual(strongEtag('a', 'b'), strongEtag('ab'), 'parts are separated');
  assert.equal(ifNoneMatchHits(undefined, tag), false);
  assert.equal(ifNoneMatchHits('', tag), false);
  assert.equal(ifNoneMatchHits(tag, tag), true);
  assert.equal(ifNoneMatchHits(`"x", W/${tag}`, tag), true);
  assert.equal(ifNoneMatchHits('*', tag), true);
  assert.equal(ifNoneMatchHits('"x"', tag), false);
  // A weak tag of ours is named by either form of it (weak comparison).
  const weak = weakEtag('a');
  assert.equal(weak, `W/${tag}`);
  assert.equal(ifNoneMatchHits(weak, weak), true);
  assert.equal(ifNoneMatchHits(tag, weak), true);
  assert.equal(ifNoneMatchHits(`"x",${weak}`, weak), true);
  assert.equal(ifNoneMatchHits('W/"x"', weak), false);
});

test('GET /v1/shardmap carries an ETag; If-None-Match with it answers 304 and no body until the map changes', async (t) => {
  const keyway = await keywayWith(t);
  const first = await fetch(`${keyway.url}/v1/shardmap`);
  assert.equal(first.status, 200);
  const etag = first.headers.get('etag');
  assert.match(etag ?? '', /^W\/"[0-9a-f]{32}"$/);
  const v1 = ((await first.json()) as { version: string }).version;

  const again = await fetch(`${keyway.url}/v1/shardmap`, { headers: { 'if-none-match': etag! } });
  assert.equal(again.status, 304);
  assert.equal(await again.text(), '');
  assert.equal(again.headers.get('etag'), etag);
  assert.equal((await fetch(`${keyway.url}/v1/shardmap`, { headers: { 'if-none-match': '"other"' } })).status, 200);

  await keyway.topo.write(topologyText({ shards: 1024, replicas: 2, weights: [10, 10, 30] }));
  const changed = await eventually('a new map', async () => {
    const res = await fetch(`${keyway.url}/v1/shardmap`, { headers: { 'if-none-match': etag! } });
    return { status: res.status, etag: res.headers.get('etag'), body: res.status === 200 ? ((await res.json()) as { version: string }) : undefined };
  }, { accept: (r) => r.status === 200, timeoutMs: 10_000 });
  assert.notEqual(changed.body!.version, v1);
  assert.notEqual(changed.etag, etag);
});

test("the example node's REST poller sends If-None-Match: an idle node gets 304s, a change reaches it", async (t) => {
  const keyway = await keywayWith(t);
  // A recording hop between the node and keyway: what a node's poll costs on the wire.
  const seen: { status: number; bytes: number }[] = [];
  const hop = http.createServer((req, res) => {
    const up = http.get(`${keyway.url}${req.url}`, { headers: req.headers, agent: false }, (r) => {
      const chunks: Buffer[] = [];
      r.on('data', (c: Buffer) => chunks.push(c));
      r.on('end', () => {
        const body = Buffer.concat(chunks);
        seen.push({ status: r.statusCode!, bytes: body.length });
        res.writeHead(r.statusCode!, r.headers).end(body);
      });
    });
    up.on('error', () => res.writeHead(502).end());
  });
  await new Promise<void>((resolve) => hop.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise<void>((resolve) => hop.close(() => resolve())));
  const changes: string[] = [];
  const poller = new ShardMapPoller({ keywayUrl: `http://127.0.0.1:${(hop.address() as AddressInfo).port}`, nodeId: 'e0', intervalMs: 50, onChange: (o) => changes.push(o.version) });
  poller.start();
  t.after(() => poller.close());
  await eventually('five polls', () => seen.length, { accept: (n) => n >= 5, timeoutMs: 10_000 });
  assert.equal(seen[0]!.status, 200);
  assert.ok(seen[0]!.bytes > 10_000, `the whole map once (${seen[0]!.bytes} bytes)`);
  assert.deepEqual(
    seen.slice(1, 5).map((s) => [s.status, s.bytes]),
    [[304, 0], [304, 0], [304, 0], [304, 0]],
  );
  const before = poller.lastSuccess()!;
  await eventually('a 304 still counts as a good poll', () => poller.lastSuccess()!, { accept: (t2) => t2 > before, timeoutMs: 5_000 });
  assert.equal(changes.length, 1);

  await keyway.topo.write(topologyText({ shards: 1024, replicas: 2, weights: [10, 10, 30] }));
  await eventually('the node sees the new map', () => changes.length, { accept: (n) => n === 2, timeoutMs: 10_000 });
  assert.notEqual(changes[1], changes[0]);
  assert.equal(poller.current()!.version, changes[1]);
});
