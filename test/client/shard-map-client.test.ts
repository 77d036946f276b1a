// ShardMapClient against a real keyway in the test process: it learns S and the owners from
// GET /v1/shardmap, follows a topology change through GET /readyz polling, keeps the last good map
// when keyway goes away, and reports failures as typed errors. Against a scripted server: a /readyz
// without a version is a failed poll, the user's callbacks cannot break the client, bad options
// (baseUrl, pollIntervalMs, timeoutMs) are refused by name, and close() ends the requests in flight.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ShardMapClient, shardFor, KeywayError } from '../../src/client/index.js';
import type { LookupBody, ShardMapBody } from '../../src/admin/api-types.js';
import { startKeywayInProcess } from '../support/keyway-in-process.js';
import { topologyText } from '../serve/support.js';
import { eventually } from '../support/eventually.js';
import { freePort } from '../../e2e/support/ports.js';
import { listenForTest } from '../support/loopback-server.js';
import { keywayWarnings, unhandledRejections } from './process-warnings.js';

const KEYS = ['user:1000', '{user:42}:profile', '{user:42}:cart', 'ключ', '🔑emoji', 'embedding/v2/doc-8812/chunk-3', ''];

async function getJson<T>(base: string, route: string): Promise<T> {
  return (await (await fetch(new URL(route, base))).json()) as T;
}

/** The client agrees with keyway's own lookup for every key, owners and addresses included. */
async function assertAgrees(client: ShardMapClient, base: string): Promise<void> {
  const map = await getJson<ShardMapBody>(base, 'v1/shardmap');
  assert.equal(client.version, map.version);
  assert.equal(client.shardCount, map.shardCount);
  for (const key of KEYS) {
    const lookup = await getJson<LookupBody>(base, `v1/lookup?key=${encodeURIComponent(key)}`);
    assert.equal(client.shardFor(key), lookup.shard, key);
    const owners = client.owners(key);
    assert.deepEqual(owners.map((o) => o.id), lookup.owners, key);
    for (const o of owners) {
      const e = map.endpoints.find((x) => x.id === o.id)!;
      assert.deepEqual(o, { id: e.id, address: e.address, port: e.port });
    }
  }
}

test('ShardMapClient learns the map, then follows a topology change by polling /readyz', async (t) => {
  const keyway = await startKeywayInProcess(t, topologyText({ shards: 64, replicas: 2 }));
  const base = `http://127.0.0.1:${keyway.server.httpPort}/`;
  const updates: string[] = [];
  const client = await ShardMapClient.connect({ baseUrl: base, pollIntervalMs: 50, onUpdate: (c) => updates.push(c.version!) });
  t.after(() => client.close());

  assert.equal(client.shardCount, 64);
  assert.equal(client.shardFor('user:1000'), shardFor('user:1000', 64));
  await assertAgrees(client, base);
  const before = client.version!;
  assert.equal(await client.refresh(), false, 'same version: no change');

  // A fourth node, heavier than the others, and a new port for e0: new version, new owners.
  const next = topologyText({ shards: 64, replicas: 2, ready: [true, true, true, true], weights: [10, 10, 10, 40] }).replace('port: 7100', 'port: 7200');
  await keyway.topo.write(next);
  await eventually('the client to pick up the new version', () => client.version !== before, { timeoutMs: 8000 });
  await assertAgrees(client, base);
  assert.deepEqual(updates, [client.version]);
  assert.ok(client.ownersOfShard(0).length === 2);
  assert.ok([...Array(64).keys()].some((s) => client.ownersOfShard(s)[0]!.id === 'e3'), 'e3 leads some shards');
  assert.ok([...Array(64).keys()].flatMap((s) => client.ownersOfShard(s)).filter((o) => o.id === 'e0').every((o) => o.port === 7200));
  assert.throws(() => client.ownersOfShard(64), (e: KeywayError) => e.code === 'BAD_ARGUMENT');
  assert.equal(client.lastError, undefined);
});

test('ShardMapClient keeps the last good map when keyway stops answering, and reports KEYWAY_UNAVAILABLE', async (t) => {
  // REST on a port below the ephemeral range, so that once keyway stops nothing beside this test
  // can be handed it and answer the client's polls.
  const keyway = await startKeywayInProcess(t, topologyText({ shards: 32 }), { httpPort: await freePort() });
  const base = `http://127.0.0.1:${keyway.server.httpPort}/`;
  const errors: KeywayError[] = [];
  const client = await ShardMapClient.connect({ baseUrl: base, pollIntervalMs: 50, timeoutMs: 1000, onError: (e) => errors.push(e) });
  t.after(() => client.close());
  const version = client.version;
  const owners = client.owners('user:1000');

  await keyway.server.close();
  await eventually('a failed poll', () => errors.length > 0);
  assert.ok(errors.every((e) => e instanceof KeywayError && e.code === 'KEYWAY_UNAVAILABLE'), String(errors[0]));
  assert.equal(client.lastError?.code, 'KEYWAY_UNAVAILABLE');
  assert.equal(client.version, version);
  assert.deepEqual(client.owners('user:1000'), owners);
  await assert.rejects(client.refresh(), (e: KeywayError) => e.code === 'KEYWAY_UNAVAILABLE');
  assert.equal(client.version, version, 'still the last good map');
});

test('ShardMapClient errors: nothing listening, a timeout, not keyway, keyway without a map', async (t) => {
  // A free port from below the ephemeral range (no port-0 listener beside this test can take it):
  // connection refused.
  const closedPort = await freePort();
  await assert.rejects(ShardMapClient.connect({ baseUrl: `http://127.0.0.1:${closedPort}` }), (e: KeywayError) => e.code === 'KEYWAY_UNAVAILABLE');

  // A server that answers slowly, HTML, or keyway's 503 error body.
  let mode: 'slow' | 'html' | 'nomap' | 'bad-map' = 'slow';
  const server = createServer((req, res) => {
    if (mode === 'slow') return void setTimeout(() => res.end('{}'), 2000).unref();
    if (mode === 'html') return void res.writeHead(502, { 'content-type': 'text/html' }).end('<html>bad gateway</html>');
    if (mode === 'bad-map') return void res.end(JSON.stringify({ version: 'v', shardCount: 4, shards: [], endpoints: [] }));
    res.writeHead(503, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ error: { code: 'SOURCE_UNAVAILABLE', message: 'no shard map yet: no valid topology has been loaded' } }));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => {
    server.closeAllConnections();
    return new Promise<void>((r) => server.close(() => r()));
  });
  const baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  const started = Date.now();
  await assert.rejects(ShardMapClient.connect({ baseUrl, timeoutMs: 200 }), (e: KeywayError) => e.code === 'KEYWAY_UNAVAILABLE' && /within 200 ms/.test(e.message));
  assert.ok(Date.now() - started < 1500, 'bounded by the timeout');
  mode = 'html';
  await assert.rejects(ShardMapClient.connect({ baseUrl }), (e: KeywayError) => e.code === 'KEYWAY_UNAVAILABLE' && /not JSON/.test(e.message));
  mode = 'nomap';
  await assert.rejects(ShardMapClient.connect({ baseUrl }), (e: KeywayError) => e.code === 'SOURCE_UNAVAILABLE');
  mode = 'bad-map';
  await assert.rejects(ShardMapClient.connect({ baseUrl }), (e: KeywayError) => e.code === 'KEYWAY_UNAVAILABLE' && /not a shard map/.test(e.message));

  const idle = new ShardMapClient({ baseUrl, pollIntervalMs: 0 });
  assert.equal(idle.version, undefined);
  assert.throws(() => idle.owners('k'), (e: KeywayError) => e.code === 'SOURCE_UNAVAILABLE');
  assert.throws(() => new ShardMapClient({ baseUrl, timeoutMs: -1 }), (e: KeywayError) => e.code === 'BAD_ARGUMENT');
});

/** A stand-in for keyway's REST API whose /readyz answer and map version a test sets. */
interface FakeKeyway {
  readonly baseUrl: string;
  /** What /readyz answers: keyway's ready body, keyway's not-ready body (no map yet), another service's `200 {}`, or a 500. */
  readyz: 'ready' | 'not-ready' | 'other' | 'broken' | 'endless' | 'hang';
  version: string;
  /** /v1/shardmap declares a Content-Length this big and then trickles (a wrong URL serving a big file). */
  declaredMapBytes?: number;
  /** The /v1/shardmap requests so far. */
  readonly fetches: () => number;
  /** With readyz 'hang': the /readyz requests held open, each answered when the test calls it; `gone` once the client hung up. */
  readonly hung: { readonly answer: () => void; gone: boolean }[];
}

async function fakeKeyway(t: TestContext): Promise<FakeKeyway> {
  let fetches = 0;
  const fake = { baseUrl: '', readyz: 'ready', version: 'v1', fetches: () => fetches, hung: [] } as FakeKeyway & { baseUrl: string };
  const server = createServer((req, res) => {
    const send = (code: number, body: unknown): void => void res.writeHead(code, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    if (req.url === '/v1/shardmap' && fake.declaredMapBytes) {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': fake.declaredMapBytes }).write('{');
      return;
    }
    if (req.url === '/v1/shardmap') {
      fetches++;
      return send(200, { version: fake.version, shardCount: 2, shards: [{ shard: 0, owners: ['a'] }, { shard: 1, owners: ['a'] }], endpoints: [{ id: 'a', address: '127.0.0.1', port: 7000 }] });
    }
    if (fake.readyz === 'ready') return send(200, { ready: true, status: 'ready', reasons: [], version: fake.version, shardCount: 2 });
    // keyway's own answer while it has no map (after a restart), as src/admin/health-routes.ts sends it.
    if (fake.readyz === 'not-ready') return send(503, { ready: false, status: 'not-ready', reason: 'no valid topology loaded yet: no shard map', reasons: [] });
    if (fake.readyz === 'other') return send(200, {});
    if (fake.readyz === 'hang') {
      const held = { answer: () => send(200, { ready: true, status: 'ready', reasons: [], version: fake.version, shardCount: 2 }), gone: false };
      res.on('close', () => (held.gone = !res.writableFinished));
      return void fake.hung.push(held);
    }
    if (fake.readyz === 'endless') {
      // Chunked JSON-looking bytes without end, as fast as the client reads, until it hangs up.
      const chunk = Buffer.alloc(64 * 1024, ' ');
      res.writeHead(200, { 'content-type': 'application/json' }).write('{"a":"');
      const pump = (): void => {
        while (!res.destroyed && res.write(chunk));
        if (!res.destroyed) res.once('drain', pump);
      };
      return pump();
    }
    res.writeHead(500).end('oops');
  });
  fake.baseUrl = await listenForTest(t, server);
  return fake;
}

test('ShardMapClient: a /readyz without a version is a failed poll (keyway without a map, or not keyway)', { timeout: 20_000 }, async (t) => {
  const fake = await fakeKeyway(t);
  const errors: KeywayError[] = [];
  const client = await ShardMapClient.connect({ baseUrl: fake.baseUrl, pollIntervalMs: 20, onError: (e) => errors.push(e) });
  t.after(() => client.close());
  const owners = client.owners('k');

  fake.readyz = 'not-ready';
  await eventually('a SOURCE_UNAVAILABLE poll', () => client.lastError?.code === 'SOURCE_UNAVAILABLE');
  assert.match(client.lastError!.message, /readyz: keyway is not ready: no valid topology loaded yet/);
  assert.ok(errors.length > 0 && errors.every((e) => e.code === 'SOURCE_UNAVAILABLE'), String(errors[0]));
  assert.equal(client.version, 'v1', 'the last good map stays in use');
  assert.deepEqual(client.owners('k'), owners);

  fake.readyz = 'other';
  await eventually('a KEYWAY_UNAVAILABLE poll', () => client.lastError?.code === 'KEYWAY_UNAVAILABLE');
  assert.match(client.lastError!.message, /readyz answered without a version: is it keyway's REST API\?/);
  assert.equal(errors.at(-1)?.code, 'KEYWAY_UNAVAILABLE');

  fake.readyz = 'ready';
  await eventually('a good poll clears lastError', () => client.lastError === undefined);
});

test("ShardMapClient: an exception from onUpdate or onError is the application's, reported once as a warning", { timeout: 20_000 }, async (t) => {
  const warnings = keywayWarnings(t);
  const unhandled = unhandledRejections(t);

  const fake = await fakeKeyway(t);
  const errors: KeywayError[] = [];
  let updates = 0;
  let onErrorCalls = 0;
  const client = await ShardMapClient.connect({
    baseUrl: fake.baseUrl,
    pollIntervalMs: 20,
    onUpdate: () => {
      updates++;
      throw new Error('onUpdate bug');
    },
    onError: (e) => {
      errors.push(e);
      onErrorCalls++;
      throw new Error('onError bug');
    },
  });
  t.after(() => client.close());

  // onUpdate throws: the map did change, refresh says so, nothing is reported as keyway's failure.
  fake.version = 'v2';
  assert.equal(await client.refresh(), true);
  assert.equal(client.version, 'v2');
  assert.equal(updates, 1);
  assert.equal(client.lastError, undefined);
  assert.equal(errors.length, 0, 'onUpdate threw, but keyway did not fail');
  // Polls follow the next change, though onUpdate throws again.
  fake.version = 'v3';
  await eventually('the poll to pick up v3', () => client.version === 'v3');
  assert.equal(updates, 2);
  assert.equal(errors.length, 0);

  // onError throws on every failed poll: the process carries on and so does polling.
  fake.readyz = 'broken';
  await eventually('three failed polls', () => onErrorCalls >= 3);
  assert.ok(errors.every((e) => e.code === 'KEYWAY_UNAVAILABLE'));
  fake.readyz = 'ready';
  await eventually('a good poll clears lastError', () => client.lastError === undefined);
  assert.deepEqual(unhandled, []);
  await eventually('the warnings', () => warnings.length >= 2);
  assert.equal(warnings.length, 2, 'one warning per callback, not one per exception');
  assert.match(warnings[0]!.message, /onUpdate threw .*onUpdate bug/);
  assert.match(warnings[1]!.message, /onError threw .*onError bug/);
});

test('ShardMapClient refuses out-of-range pollIntervalMs and timeoutMs, naming the option and its range', () => {
  const baseUrl = 'http://127.0.0.1:1/';
  const refused = (field: string, range: string) => (e: unknown) =>
    e instanceof KeywayError && e.code === 'BAD_ARGUMENT' && e.location.field === field && e.message.startsWith(`${field}: must be an integer from ${range} (ms)`);
  // Past 2^31 - 1 Node fires a timer after 1 ms: polls would flood keyway, requests would time out at once.
  for (const v of [2 ** 31, 2 ** 32, -1, 1.5, NaN, Infinity, '1000']) {
    assert.throws(() => new ShardMapClient({ baseUrl, pollIntervalMs: v as number }), refused('pollIntervalMs', '0 to 2147483647'), String(v));
  }
  for (const v of [0, 2 ** 31, 2 ** 32, 2 ** 32 + 1, -1, 1.5, NaN]) {
    assert.throws(() => new ShardMapClient({ baseUrl, timeoutMs: v }), refused('timeoutMs', '1 to 2147483647'), String(v));
  }
  for (const opts of [{ pollIntervalMs: 0 }, { pollIntervalMs: 2 ** 31 - 1 }, { timeoutMs: 1 }, { timeoutMs: 2 ** 31 - 1 }]) {
    assert.doesNotThrow(() => new ShardMapClient({ baseUrl, ...opts }), JSON.stringify(opts));
  }
});

test('ShardMapClient baseUrl: host:port gets http://, anything else that is not an http(s) URL is BAD_ARGUMENT', async (t) => {
  const fake = await fakeKeyway(t);
  const hostPort = fake.baseUrl.replace(/^http:\/\//, '').replace(/\/$/, '');
  const client = await ShardMapClient.connect({ baseUrl: hostPort, pollIntervalMs: 0 });
  assert.equal(client.version, 'v1', `connects to ${hostPort}`);
  const base = (baseUrl: string | URL): string => {
    try {
      new ShardMapClient({ baseUrl, pollIntervalMs: 0 }).owners('k');
    } catch (e) {
      return /at (\S+)$/.exec((e as Error).message)![1]!; // "no shard map yet from keyway at <base>"
    }
    throw new Error('owners() before a map must throw');
  };
  assert.equal(base('keyway:41080'), 'http://keyway:41080/');
  assert.equal(base('https://keyway.example/prefix?x=1#y'), 'https://keyway.example/prefix/');
  assert.equal(base(new URL('http://10.0.0.1:8080')), 'http://10.0.0.1:8080/');

  for (const bad of ['', 'ftp://keyway:21', 'keyway:port', 'http://[::1', 'unix:///run/keyway.sock', undefined, 42]) {
    assert.throws(
      () => new ShardMapClient({ baseUrl: bad as string }),
      (e: unknown) => e instanceof KeywayError && e.code === 'BAD_ARGUMENT' && e.location.field === 'baseUrl' && e.message.startsWith('baseUrl: must be'),
      String(bad),
    );
  }
  await assert.rejects(ShardMapClient.connect({ baseUrl: '127.0.0.1:notaport' }), (e: KeywayError) => e.code === 'BAD_ARGUMENT' && e.location.field === 'baseUrl');
  assert.throws(
    () => new ShardMapClient({ baseUrl: 'http://admin:s3cret@keyway:8080' }),
    (e: unknown) => e instanceof KeywayError && e.code === 'BAD_ARGUMENT' && /user name or password/.test(e.message) && !e.message.includes('s3cret'),
  );
});

test('ShardMapClient token: the rule of keyway serve\'s token file, refused by position and never quoted', () => {
  const baseUrl = 'http://127.0.0.1:1';
  assert.doesNotThrow(() => new ShardMapClient({ baseUrl, token: 'Zm9v-._~+/=!#$%&*^`|' }));
  for (const [token, what] of [
    ['ab\x01cd', 'character 3 is a control character'],
    ['ab\ncd', 'character 3 is white space'],
    ['tökén', 'character 2 is not ASCII'],
    ['two words', 'character 4 is white space'],
  ] as const) {
    assert.throws(
      () => new ShardMapClient({ baseUrl, token }),
      (e: KeywayError) => e.code === 'BAD_ARGUMENT' && e.location.field === 'token' && e.message.includes(what) && !e.message.includes(token),
      JSON.stringify(token),
    );
  }
  assert.throws(() => new ShardMapClient({ baseUrl, token: '' }), (e: KeywayError) => e.code === 'BAD_ARGUMENT');
});

test('ShardMapClient: an answer past its size limit fails at the limit, not after the timeout with the whole stream in memory', { timeout: 30_000 }, async (t) => {
  const fake = await fakeKeyway(t);
  const client = await ShardMapClient.connect({ baseUrl: fake.baseUrl, pollIntervalMs: 20, timeoutMs: 20_000 });
  t.after(() => client.close());
  fake.readyz = 'endless';
  const started = Date.now();
  await eventually('the poll is refused at the limit', () => client.lastError, { timeoutMs: 15_000 });
  assert.equal(client.lastError!.code, 'KEYWAY_UNAVAILABLE');
  assert.match(client.lastError!.message, /readyz: the answer is over the 1048576-byte limit: is it keyway's REST API\?/);
  assert.ok(Date.now() - started < 10_000, 'not at the 20 s timeout');
  assert.equal(client.version, 'v1', 'the last good map stays in use');

  fake.declaredMapBytes = 300 * 1024 * 1024;
  await assert.rejects(client.refresh(), (e: KeywayError) => e.code === 'KEYWAY_UNAVAILABLE' && /v1\/shardmap: the answer is over the 268435456-byte limit/.test(e.message));
});

test('ShardMapClient close() abandons the request in flight: no fetch after close, nothing keeps the process alive', { timeout: 20_000 }, async (t) => {
  const fake = await fakeKeyway(t);
  const errors: KeywayError[] = [];
  const client = await ShardMapClient.connect({ baseUrl: fake.baseUrl, pollIntervalMs: 20, timeoutMs: 15_000, onError: (e) => errors.push(e) });
  t.after(() => client.close());
  fake.readyz = 'hang';
  await eventually('a poll waiting on /readyz', () => fake.hung.length === 1);
  // A refresh of the application's own, in flight too.
  fake.declaredMapBytes = 1000;
  const refreshed = client.refresh();
  client.close();
  const started = Date.now();
  await assert.rejects(refreshed, (e: KeywayError) => e.code === 'KEYWAY_UNAVAILABLE' && /the client was closed/.test(e.message));
  assert.ok(Date.now() - started < 2000, 'the refresh ends at close(), not at the 15 s timeout');
  // The poll's /readyz is hung up on at once: a socket left open would hold the process up to the timeout.
  await eventually('the poll to hang up', () => fake.hung[0]!.gone, { timeoutMs: 2000 });
  // Had it been answered with a new version, a poll that outlived close() would fetch the whole map.
  fake.declaredMapBytes = undefined;
  fake.version = 'v2';
  fake.hung[0]!.answer();
  await new Promise((r) => setTimeout(r, 200));
  assert.equal(fake.fetches(), 1, 'only the map connect() fetched');
  assert.equal(client.version, 'v1', 'the map in hand stays');
  assert.deepEqual(errors, [], 'close() is not a failure to report');
  // The application may still fetch a map itself.
  assert.equal(await client.refresh(), true);
  assert.equal(client.version, 'v2');
  assert.deepEqual(errors, []);
});
