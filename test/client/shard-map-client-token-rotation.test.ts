// The admin token rotated on keyway (a new --admin-token-file, rolled out by restarting the
// replicas) while an application holds a ShardMapClient for weeks: the client says the token is
// refused (UNAUTHENTICATED), keeps the last good map, and takes a new token through setToken, with
// no new client (whose map, polling state and references the application would have to rebuild).
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { ShardMapClient, KeywayError } from '../../src/client/index.js';
import { listenForTest } from '../support/loopback-server.js';
import { eventually } from '../support/eventually.js';

/** keyway with `--admin-token-file`: /v1 needs `token`; /readyz is open, as keyway's is. */
async function securedKeyway(t: TestContext): Promise<{ baseUrl: string; token: string; version: string; sent: (string | undefined)[] }> {
  const fake = { baseUrl: '', token: 'old-token', version: 'v1', sent: [] as (string | undefined)[] };
  const server = createServer((req, res) => {
    const send = (code: number, body: unknown): void => void res.writeHead(code, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    if (req.url === '/readyz') return send(200, { ready: true, status: 'ready', reasons: [], version: fake.version, shardCount: 1 });
    fake.sent.push(req.headers.authorization);
    if (req.headers.authorization !== `Bearer ${fake.token}`) return send(401, { error: { code: 'UNAUTHENTICATED', message: 'the admin token does not match' } });
    send(200, { version: fake.version, shardCount: 1, shards: [{ shard: 0, owners: ['a'] }], endpoints: [{ id: 'a', address: '127.0.0.1', port: 7000 }] });
  });
  fake.baseUrl = await listenForTest(t, server);
  return fake;
}

test('a token rotated on keyway: UNAUTHENTICATED while the map stays, then setToken takes the new one on the same client', async (t) => {
  const fake = await securedKeyway(t);
  const errors: KeywayError[] = [];
  const client = await ShardMapClient.connect({ baseUrl: fake.baseUrl, token: 'old-token', pollIntervalMs: 20, maxBackoffMs: 40, onError: (e) => errors.push(e) });
  t.after(() => client.close());
  assert.equal(client.version, 'v1');

  // The replicas restart with a new token and a new map.
  fake.token = 'new-token';
  fake.version = 'v2';
  await eventually('the refused token reported', () => errors.length >= 2);
  assert.ok(errors.every((e) => e.code === 'UNAUTHENTICATED' && e.message.includes('does not match')), String(errors[0]));
  assert.equal(client.lastError?.code, 'UNAUTHENTICATED');
  assert.equal(client.version, 'v1', 'the last good map stays in use');

  // A token the option refuses is refused here too, and the one in use is kept.
  assert.throws(() => client.setToken('two words'), (e: KeywayError) => e.code === 'BAD_ARGUMENT' && e.location.field === 'token' && !e.message.includes('two words'));
  assert.throws(() => client.setToken(''), (e: KeywayError) => e.code === 'BAD_ARGUMENT' && e.location.field === 'token');

  client.setToken('new-token');
  assert.equal(await client.refresh(), true);
  assert.equal(client.version, 'v2');
  assert.equal(client.lastError, undefined);
  assert.equal(fake.sent.at(-1), 'Bearer new-token');

  // Polls go on with the new token: the next map is fetched with it, with no error.
  const failed = errors.length;
  fake.version = 'v3';
  await eventually('the next map, polled with the new token', () => client.version === 'v3');
  assert.equal(errors.length, failed);
  assert.equal(fake.sent.at(-1), 'Bearer new-token');

  // undefined sends no token: keyway says the token is needed.
  client.setToken(undefined);
  await assert.rejects(client.refresh(), (e: KeywayError) => e.code === 'UNAUTHENTICATED');
  assert.equal(fake.sent.at(-1), undefined);
  assert.equal(client.version, 'v3');
});
