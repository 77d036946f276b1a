/**
 * The client commands' way into keyway (src/cli/commands/rest-client.ts): answers that are not
 * keyway's, ports fetch refuses, request settings that cannot be sent, and long URLs in messages.
 * Commands run in-process against a fake server on 127.0.0.1.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { runClientCommand } from '../../../src/cli/commands/index.js';
import { MAX_BODY_BYTES, MAX_QUOTED_URL, RestClient } from '../../../src/cli/commands/rest-client.js';
import { READYZ_SHAPE, shapeProblem } from '../../../src/cli/commands/body-shape.js';
import { CliError } from '../../../src/cli/commands/options.js';
import { captureIo, fakeServer } from './fake-server.js';

const READY = JSON.stringify({ ready: true, status: 'ready', reasons: [] });
const MAP = {
  version: 'v1',
  shardCount: 2,
  replicas: 1,
  spread: 'none',
  shards: [
    { shard: 0, owners: ['a'] },
    { shard: 1, owners: ['a'] },
  ],
  endpoints: [{ id: 'a', locality: { zone: 'z', subzone: 'f' }, weight: 1, ready: true, shardsOwned: 2, shardsPrimary: 2 }],
  warnings: [],
};

/** Runs `keyway ARGS` in-process with no server or token from the environment. */
async function cli(args: string[], env: NodeJS.ProcessEnv = {}) {
  const io = captureIo();
  const [name, ...rest] = args;
  const code = await runClientCommand(name as 'status', rest, { ...env }, io);
  return { code, stdout: io.stdout, stderr: io.stderr };
}

test('an answer that is not what keyway sends: exit 1, nothing printed on stdout, the message names what is missing', async (t) => {
  const cases: { args: string[]; answers: Record<string, string>; problem: RegExp }[] = [
    { args: ['status'], answers: { '/readyz': '{}' }, problem: /\/readyz answered 200 with JSON that is not a readiness answer \("ready" is missing\)/ },
    { args: ['status'], answers: { '/readyz': 'null' }, problem: /not a readiness answer \(the body is null, not an object\)/ },
    { args: ['status'], answers: { '/readyz': READY, '/v1/proxies': '{}' }, problem: /\/v1\/proxies\?limit=500 answered 200 with JSON that is not a proxy list \("proxies" is missing\)/ },
    { args: ['status'], answers: { '/readyz': READY, '/v1/proxies': '{"proxies":[{"id":5}]}' }, problem: /\("proxies\[0\]\.id" is number 5, not a string\)/ },
    { args: ['shardmap'], answers: { '/v1/shardmap': '{}' }, problem: /not a shard map \("version" is missing\)/ },
    { args: ['shardmap'], answers: { '/v1/shardmap': 'null' }, problem: /not a shard map \(the body is null, not an object\)/ },
    {
      args: ['shardmap'],
      answers: { '/v1/shardmap': JSON.stringify({ ...MAP, shards: [{ shard: 0, owners: [7] }] }) },
      problem: /not a shard map \("shards\[0\]\.owners\[0\]" is number 7, not a string\)/,
    },
    { args: ['lookup', 'k'], answers: { '/v1/lookup': '{}' }, problem: /not a key lookup \("key" is missing\)/ },
    { args: ['lookup', 'k'], answers: { '/v1/lookup': '[]' }, problem: /not a key lookup \(the body is a list, not an object\)/ },
  ];
  for (const c of cases) {
    const server = await fakeServer(c.answers);
    t.after(() => server.close());
    const r = await cli([...c.args, '--server', server.url]);
    assert.equal(r.code, 1, `${c.args.join(' ')} on ${JSON.stringify(c.answers)}: ${r.stderr}`);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, c.problem);
    assert.match(r.stderr, new RegExp(`is ${server.url}/ a keyway REST API\\?\\n$`));
  }
});

test('answers of the documented shape pass, extra fields and an older keyway readyz included', async (t) => {
  const server = await fakeServer({
    '/readyz': JSON.stringify({ ready: true, future: { x: 1 } }),
    '/v1/proxies': JSON.stringify({ proxies: [] }),
    '/v1/shardmap': JSON.stringify({ ...MAP, extra: 'field' }),
    '/v1/lookup': JSON.stringify({ key: 'k', shard: 1, owners: ['a'], version: 'v1' }),
  });
  t.after(() => server.close());
  for (const args of [['status'], ['shardmap'], ['lookup', 'k']]) {
    const r = await cli([...args, '--server', server.url]);
    assert.equal(r.code, 0, `${args[0]}: ${r.stderr}`);
  }
  assert.equal(shapeProblem({ ready: 'yes' }, READYZ_SHAPE), '"ready" is string "yes", not a boolean');
});

/** Ports fetch refuses to connect to (the WHATWG "bad ports" above 1023). */
const BAD_PORTS = [6000, 10080, 5060, 5061, 6665, 6666, 6667, 6668, 6669, 6679, 6697, 1719, 1720, 1723, 2049, 3659, 4045, 4190, 6566];

async function canBind(port: number): Promise<boolean> {
  const s = net.createServer();
  return new Promise((resolve) => {
    s.once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}

test('a keyway on a port fetch refuses (6000, 10080, ...) is reached', async (t) => {
  let port: number | undefined;
  for (const p of BAD_PORTS) {
    if (await canBind(p)) {
      port = p;
      break;
    }
  }
  if (port === undefined) return t.skip('every bad port is taken on this machine');
  const server = await fakeServer({ '/readyz': READY, '/v1/proxies': JSON.stringify({ proxies: [] }) }, '{}', port);
  t.after(() => server.close());
  // The premise: fetch does refuse it.
  await assert.rejects(fetch(`${server.url}/readyz`), (err: Error & { cause?: Error }) => /bad port/.test(String(err.cause?.message ?? err.message)));
  const r = await cli(['status', '--server', server.url]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, new RegExp(`keyway http://127.0.0.1:${port}/: ready`));
});

test('a token or server address that cannot be sent is a usage error before any request, and the secret is not echoed', async (t) => {
  const server = await fakeServer({ '/readyz': READY, '/v1/proxies': JSON.stringify({ proxies: [] }) });
  t.after(() => server.close());
  const flag = await cli(['status', '--token', 'sekrit\ncd', '--server', server.url]);
  assert.equal(flag.code, 2);
  assert.match(flag.stderr, /^keyway status: --token must be one word of visible ASCII characters, .*; character 7 is white space\n/);
  const env = await cli(['status', '--server', server.url], { KEYWAY_TOKEN: 'sekrit\u0001y' });
  assert.equal(env.code, 2);
  assert.match(env.stderr, /^keyway status: KEYWAY_TOKEN must be one word .*; character 7 is a control character\n/);
  const wide = await cli(['status', '--server', server.url, '--token', 'sekrit\u2603']);
  assert.equal(wide.code, 2);
  assert.match(wide.stderr, /character 7 is not ASCII\n/);
  // Latin-1 too: fetch would send it as one byte, curl as two (UTF-8), and keyway serve refuses such a token file.
  const latin1 = await cli(['status', '--server', server.url], { KEYWAY_TOKEN: 'sekrit\u00e9' });
  assert.equal(latin1.code, 2);
  assert.match(latin1.stderr, /^keyway status: KEYWAY_TOKEN must be one word of visible ASCII characters, .*; character 7 is not ASCII\n/);
  const creds = await cli(['status', '--server', server.url.replace('//', '//user:hunter2@')]);
  assert.equal(creds.code, 2);
  assert.match(creds.stderr, /^keyway status: --server must not hold a user name or password .*--token or KEYWAY_TOKEN\n/);
  const credsEnv = await cli(['shardmap'], { KEYWAY_SERVER: server.url.replace('//', '//user:hunter2@') });
  assert.equal(credsEnv.code, 2);
  assert.match(credsEnv.stderr, /^keyway shardmap: KEYWAY_SERVER must not hold a user name or password/);
  for (const r of [flag, env, wide, latin1, creds, credsEnv]) {
    assert.doesNotMatch(r.stderr, /sekrit|hunter2/);
    assert.match(r.stderr, /\n\nUsage: keyway/);
  }
  assert.deepEqual(server.requests, [], 'nothing was sent');
  // A token of visible ASCII characters is sent as given, without the white space around it.
  const ok = await cli(['status', '--server', server.url, '--token', '  ab.c~d/+_-!=  ']);
  assert.equal(ok.code, 0, ok.stderr);
});

test('an error quotes at most MAX_QUOTED_URL characters of a long URL', async (t) => {
  const server = await fakeServer({
    '/v1/lookup': { status: 431, body: JSON.stringify({ error: { code: 'LIMIT_EXCEEDED', message: 'too long' } }) },
    '/v1/shards': { status: 502, body: 'bad gateway' },
  });
  t.after(() => server.close());
  // Under Node's 16 KiB header limit, so the answer is the fake server's keyway-style error body.
  const key = 'k'.repeat(10_000);
  const r = await cli(['lookup', key, '--server', server.url]);
  assert.equal(r.code, 1);
  const route = `/v1/lookup?key=${key}`;
  assert.match(r.stderr, new RegExp(`^keyway lookup: GET /v1/lookup\\?key=k+\\.\\.\\. \\(${route.length} characters\\) failed with 431: LIMIT_EXCEEDED: too long\\n$`));
  assert.ok(r.stderr.length < MAX_QUOTED_URL + 200, `${r.stderr.length} characters`);
  // Not JSON: the whole URL is quoted, cut the same way.
  const api = new RestClient(new URL(`${server.url}/`));
  await assert.rejects(api.get(`v1/shards?x=${'9'.repeat(5000)}`, READYZ_SHAPE), (err: CliError) => {
    assert.ok(err instanceof CliError);
    assert.match(err.message, /answered 502 with a body that is not JSON/);
    assert.ok(err.message.length < MAX_QUOTED_URL + 200, err.message);
    return true;
  });
});

test('a redirect is not followed (the token would go along): the message names where it points', async (t) => {
  const target = await fakeServer({ '/readyz': READY, '/v1/proxies': JSON.stringify({ proxies: [] }) });
  t.after(() => target.close());
  const server = await fakeServer({ '/readyz': { status: 301, body: '', headers: { location: `${target.url}/readyz` } } });
  t.after(() => server.close());
  const r = await cli(['status', '--server', server.url, '--token', 'tok']);
  assert.equal(r.code, 1);
  assert.equal(r.stderr, `keyway status: GET ${server.url}/readyz was redirected (301) to ${target.url}/readyz: point --server or KEYWAY_SERVER there\n`);
  assert.deepEqual(target.requests, []);
});

test('an answer that never ends is cut at the body limit: exit-1 error naming the limit, not a crash', async (t) => {
  // Streams up to 64 MiB: more than the client's lowered limit, little enough to end if a client read it all.
  let sent = 0;
  const server = http.createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    const chunk = Buffer.alloc(64 * 1024, 'a');
    const pump = (): void => {
      while (sent < 64 * 1024 * 1024 && !res.destroyed) {
        sent += chunk.length;
        if (!res.write(chunk)) return void res.once('drain', pump);
      }
      res.end();
    };
    pump();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise<void>((resolve) => server.close(() => resolve())));
  server.on('connection', (s) => t.after(() => s.destroy()));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  const api = new RestClient(new URL(url), undefined, undefined, 1024 * 1024);
  await assert.rejects(api.get('v1/shardmap', READYZ_SHAPE), (err: CliError) => {
    assert.ok(err instanceof CliError, String(err));
    assert.equal(err.exitCode, 1);
    assert.equal(err.message, `GET ${url}v1/shardmap answered 200 with a body larger than 1 MiB (read no further): is ${url} a keyway REST API?`);
    return true;
  });
  assert.ok(sent < 32 * 1024 * 1024, `the client stopped reading early (${sent} bytes sent)`);
  assert.equal(MAX_BODY_BYTES, 256 * 1024 * 1024);
});

test('--token "" (an unset shell variable) is a usage error, not "no token" that would also drop KEYWAY_TOKEN', async (t) => {
  const server = await fakeServer({ '/readyz': READY, '/v1/proxies': JSON.stringify({ proxies: [] }) });
  t.after(() => server.close());
  for (const value of ['', '  ']) {
    const r = await cli(['status', '--server', server.url, '--token', value], { KEYWAY_TOKEN: 'sekrit' });
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /^keyway status: --token is given an empty value: give the token, or leave the flag out to use KEYWAY_TOKEN\n/);
  }
  assert.deepEqual(server.requests, [], 'nothing was sent');
});
