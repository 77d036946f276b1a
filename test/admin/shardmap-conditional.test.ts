/**
 * `GET /v1/shardmap` under the conditions docs/api.md "Polling for changes" promises: the ETag
 * follows the state the body carries, not the times each process stamps, and many slow readers of
 * a large map share its bytes.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { buildAdminApp } from '../../src/admin/index.js';
import { ServingState } from '../../src/app/serving-state.js';
import { computeShardMap } from '../../src/sharding/index.js';
import type { Endpoint } from '../../src/core/endpoint.js';
import type { ShardingPolicy } from '../../src/core/policy.js';
import type { SourceStatus } from '../../src/core/serving.js';
import { DEFAULT_XDS_SETTINGS } from '../../src/core/settings.js';
import { eventually } from '../support/eventually.js';

function endpoints(n: number): Endpoint[] {
  return Array.from({ length: n }, (_, i) => ({
    id: `gpu-${String(i).padStart(4, '0')}`,
    address: `10.0.${i >> 8}.${i & 255}`,
    port: 7000,
    locality: { region: 'r', zone: `z${i % 4}`, subzone: `f${i % 16}` },
    weight: 80,
    ready: true,
  }));
}

/** A keyway's serving state: `sources` is read live, as the runner's source status is. */
function stateWith(policy: ShardingPolicy, eps: Endpoint[], sources: () => readonly SourceStatus[]): ServingState {
  const state = new ServingState();
  const map = computeShardMap(eps, policy);
  state.publish({ map, topology: { policy, xds: DEFAULT_XDS_SETTINGS, endpoints: map.endpoints } });
  state.setSourceStatus(sources);
  return state;
}

const POLICY: ShardingPolicy = { shardCount: 256, replicas: 2, spread: 'zone' };

test('the ETag follows the state: a source re-read or another replica with the same inputs gives the same tag and a 304', async (t) => {
  let lastUpdate = new Date('2026-01-01T00:00:00Z');
  const k8s = (): SourceStatus => ({ kind: 'kubernetes', healthy: true, stale: false, lastUpdate });
  const one = await buildAdminApp(stateWith(POLICY, endpoints(8), () => [k8s()]));
  t.after(() => one.close());
  const first = await one.inject('/v1/shardmap');
  assert.equal(first.statusCode, 200);
  const etag = first.headers.etag as string;
  assert.match(etag, /^W\/"[0-9a-f]{32}"$/);

  // The Kubernetes source stamps lastUpdate on every informer event (a Node's status, any Pod),
  // with the same endpoints: the body's time moves, the state does not.
  lastUpdate = new Date('2026-01-01T00:00:07Z');
  const reread = await one.inject({ url: '/v1/shardmap', headers: { 'if-none-match': etag } });
  assert.equal(reread.statusCode, 304);
  assert.equal(reread.headers.etag, etag);
  assert.equal((await one.inject('/v1/shardmap')).json().sources[0].lastUpdate, '2026-01-01T00:00:07.000Z', 'a 200 shows the new time');

  // A second replica behind the same Service: published later (its own updatedAt), its source read
  // at another time. A poller that reaches it with the first replica's tag gets a 304.
  await new Promise((r) => setTimeout(r, 5));
  const other = await buildAdminApp(stateWith(POLICY, endpoints(8), () => [{ ...k8s(), lastUpdate: new Date('2026-01-01T00:00:03Z') }]));
  t.after(() => other.close());
  const there = await other.inject('/v1/shardmap');
  assert.notEqual(there.json().updatedAt, first.json().updatedAt);
  assert.equal(there.headers.etag, etag);
  assert.equal((await other.inject({ url: '/v1/shardmap', headers: { 'if-none-match': etag } })).statusCode, 304);
  // The strong form of the same tag matches too (weak comparison, RFC 9110 §13.1.2).
  assert.equal((await other.inject({ url: '/v1/shardmap', headers: { 'if-none-match': `"x", ${etag.slice(2)}` } })).statusCode, 304);

  // What the state says does change the tag: a stale source, its error.
  const staleApp = await buildAdminApp(stateWith(POLICY, endpoints(8), () => [{ ...k8s(), healthy: false, stale: true, lastError: 'nodes: connection refused' }]));
  t.after(() => staleApp.close());
  const stale = await staleApp.inject({ url: '/v1/shardmap', headers: { 'if-none-match': etag } });
  assert.equal(stale.statusCode, 200);
  assert.notEqual(stale.headers.etag, etag);
  // So does the map.
  const bigger = await buildAdminApp(stateWith(POLICY, endpoints(9), () => [k8s()]));
  t.after(() => bigger.close());
  assert.equal((await bigger.inject({ url: '/v1/shardmap', headers: { 'if-none-match': etag } })).statusCode, 200);
});

test('HEAD /v1/shardmap carries the same ETag and answers 304 to it', async (t) => {
  const a = await buildAdminApp(stateWith(POLICY, endpoints(8), () => []));
  t.after(() => a.close());
  const get = await a.inject('/v1/shardmap');
  const head = await a.inject({ method: 'HEAD', url: '/v1/shardmap' });
  assert.equal(head.statusCode, 200);
  assert.equal(head.headers.etag, get.headers.etag);
  assert.equal(head.body, '');
  assert.equal((await a.inject({ method: 'HEAD', url: '/v1/shardmap', headers: { 'if-none-match': get.headers.etag as string } })).statusCode, 304);
});

test('many clients that do not read a large /v1/shardmap share its bytes: memory does not grow with each one', async (t) => {
  // Megabytes, more than the kernel's socket buffers hold for a client that reads nothing.
  const policy: ShardingPolicy = { shardCount: 131072, replicas: 1, spread: 'none' };
  const a = await buildAdminApp(stateWith(policy, endpoints(32), () => [{ kind: 'file', healthy: true, stale: false, lastUpdate: new Date(0) }]));
  let answered = 0;
  a.addHook('onSend', async (_request, _reply, payload) => {
    answered++;
    return payload;
  });
  await a.listen({ port: 0, host: '127.0.0.1' });
  t.after(() => a.close());
  const { port } = a.server.address() as AddressInfo;
  const size = Number((await fetch(`http://127.0.0.1:${port}/v1/shardmap`)).headers.get('content-length'));
  assert.ok(size > 4_000_000, `a large body (${size} bytes)`);

  const CLIENTS = 20;
  const before = process.memoryUsage().arrayBuffers;
  const sockets: net.Socket[] = [];
  t.after(() => sockets.forEach((s) => s.destroy()));
  for (let i = 0; i < CLIENTS; i++) {
    const s = net.connect(port, '127.0.0.1');
    s.on('error', () => {});
    s.write('GET /v1/shardmap HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
    s.pause(); // reads nothing: the body waits in the server's socket buffers
    sockets.push(s);
  }
  await eventually('every request answered', () => answered, { accept: (n) => n >= CLIENTS + 1, timeoutMs: 20_000 });
  const grown = process.memoryUsage().arrayBuffers - before;
  // One copy of the body per client was ~3 bodies each (60 here); shared, a few in all.
  assert.ok(grown < 4 * size, `${CLIENTS} paused clients grew buffers by ${(grown / size).toFixed(1)} bodies`);
});
