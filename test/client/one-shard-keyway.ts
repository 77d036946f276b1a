/**
 * A keyway played over HTTP for ShardMapClient tests (docs/clients.md): `/readyz` and a one-shard
 * `/v1/shardmap` at `state.version`, or, while `state.failure` is set, a keyway answering 500, or a
 * proxy in front of one that restarts answering an HTML 502 (so `/readyz` itself fails).
 */
import { createServer } from 'node:http';
import type { TestContext } from 'node:test';
import { listenForTest } from '../support/loopback-server.js';

export interface OneShardKeyway {
  readonly baseUrl: string;
  readonly state: { version: string; failure: 'none' | 'keyway-500' | 'proxy-502' };
}

export async function oneShardKeyway(t: TestContext): Promise<OneShardKeyway> {
  const state: OneShardKeyway['state'] = { version: 'v1', failure: 'none' };
  const server = createServer((req, res) => {
    if (state.failure === 'keyway-500') return void res.writeHead(500, { 'content-type': 'application/json' }).end('{}');
    if (state.failure === 'proxy-502') return void res.writeHead(502, { 'content-type': 'text/html' }).end('<html><body>502 Bad Gateway</body></html>');
    const { version } = state;
    if (req.url === '/readyz') return void res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ ready: true, status: 'ready', version }));
    const body = { version, shardCount: 1, shards: [{ shard: 0, owners: ['a'] }], endpoints: [{ id: 'a', address: '127.0.0.1', port: 7000 }] };
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(body));
  });
  return { baseUrl: await listenForTest(t, server), state };
}
