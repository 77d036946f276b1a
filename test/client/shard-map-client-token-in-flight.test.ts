// setToken while a map fetch with the old token is in flight (the application learns of a rotation
// as keyway's replicas restart with the new token): keyway refuses the old token, and the client
// reported UNAUTHENTICATED (onError, lastError, a backoff step of the polls) for a token the
// application had already replaced. A 401 to a token replaced since is sent again with the new one.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { ShardMapClient, KeywayError } from '../../src/client/index.js';
import { listenForTest } from '../support/loopback-server.js';
import { eventually } from '../support/eventually.js';

test('a map fetch refused for a token setToken replaced while it was in flight is sent again with the new token, no error reported', async (t) => {
  let token = 'old-token';
  let version = 'v1';
  let held: (() => void) | undefined;
  const sent: (string | undefined)[] = [];
  const server = createServer((req, res) => {
    const send = (code: number, body: unknown): void => void res.writeHead(code, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    if (req.url === '/readyz') return send(200, { ready: true, status: 'ready', reasons: [], version, shardCount: 1 });
    sent.push(req.headers.authorization);
    const answer = (): void =>
      req.headers.authorization === `Bearer ${token}`
        ? send(200, { version, shardCount: 1, shards: [{ shard: 0, owners: ['a'] }], endpoints: [{ id: 'a', address: '127.0.0.1', port: 7000 }] })
        : send(401, { error: { code: 'UNAUTHENTICATED', message: 'the admin token does not match' } });
    // The first fetch of v2 is held: it is in flight while the token rotates.
    if (version === 'v2' && !held) held = answer;
    else answer();
  });
  const baseUrl = await listenForTest(t, server);
  const errors: KeywayError[] = [];
  const client = await ShardMapClient.connect({ baseUrl, token: 'old-token', pollIntervalMs: 20, onError: (e) => errors.push(e) });
  t.after(() => client.close());

  version = 'v2';
  await eventually('a poll fetching v2 with the old token', () => held !== undefined);
  token = 'new-token';
  client.setToken('new-token');
  held!();
  await eventually('v2 taken', () => client.version === 'v2');
  assert.deepEqual(errors.map((e) => e.code), [], 'no error for the replaced token');
  assert.equal(client.lastError, undefined);
  assert.deepEqual(sent.slice(0, 3), ['Bearer old-token', 'Bearer old-token', 'Bearer new-token']);

  // A token keyway refuses that is still the one in use is reported, and sent once only.
  const before = sent.length;
  token = 'newer-token';
  await assert.rejects(client.refresh(), (e: KeywayError) => e.code === 'UNAUTHENTICATED');
  assert.equal(sent.length, before + 1);
});
