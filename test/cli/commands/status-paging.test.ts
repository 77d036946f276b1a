/**
 * `keyway status` reads `GET /v1/proxies` in pages of PROXIES_PAGE_LIMIT, following `continue`
 * (docs/cli.md): every proxy once, in id order, also while proxies come and go between pages; a
 * keyway older than paging (every row at once, no `continue`) reads the same; a server whose
 * `continue` would page forever, or is not a token, is an error, not a hang.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { ProxyStatus } from '../../../src/admin/api-types.js';
import { runClientCommand } from '../../../src/cli/commands/index.js';
import { PROXIES_PAGE_LIMIT } from '../../../src/cli/commands/status.js';
import { Fleet, idOf } from '../../admin/proxy-fleet.js';
import { pagingKeyway } from './paging-keyway.js';
import { captureIo, fakeServer } from './fake-server.js';

const READY = JSON.stringify({ ready: true, status: 'ready', reasons: [], stale: false, sources: [] });

async function status(server: string): Promise<{ code: number; stdout: string; stderr: string }> {
  const io = captureIo();
  const code = await runClientCommand('status', ['--server', server, '-o', 'json'], {}, io);
  return { code, stdout: io.stdout, stderr: io.stderr };
}

const idsOf = (stdout: string): string[] => (JSON.parse(stdout) as { proxies: ProxyStatus[] }).proxies.map((p) => p.id);

test('status pages through every proxy: each once, in id order, in ceil(N / PROXIES_PAGE_LIMIT) requests of a bounded page', async (t) => {
  const fleet = new Fleet();
  const n = 2 * PROXIES_PAGE_LIMIT + 3;
  for (let i = 0; i < n; i++) fleet.connect(idOf(i));
  const server = await pagingKeyway(t, fleet);
  const r = await status(server);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(idsOf(r.stdout), Array.from({ length: n }, (_, i) => idOf(i)));
  assert.equal(fleet.pagesRead, 3);
  assert.equal(fleet.wholeLists, 1, 'the whole list only for /readyz (its degraded reasons), never for the table');
  assert.ok(fleet.rowsBuilt <= n + 2, `${fleet.rowsBuilt} rows built for ${n} proxies`);
});

test('proxies connecting and disconnecting between pages: none twice, in order; those there throughout all listed', async (t) => {
  const fleet = new Fleet();
  const n = 3 * PROXIES_PAGE_LIMIT;
  for (let i = 0; i < n; i += 2) fleet.connect(idOf(i)); // even ids; page 1 ends at idOf(2 * (PROXIES_PAGE_LIMIT - 1))
  const lastOfPage1 = 2 * (PROXIES_PAGE_LIMIT - 1);
  fleet.beforePage = (page) => {
    if (page !== 2) return;
    fleet.disconnect(idOf(0)); // listed already
    fleet.disconnect(idOf(lastOfPage1)); // the token's own row: the token still says where to go on
    fleet.disconnect(idOf(lastOfPage1 + 4)); // not listed yet: never listed
    fleet.connect(idOf(1)); // sorts before the token: on a page already read
    fleet.connect(idOf(lastOfPage1 + 1)); // sorts after it: listed
  };
  const server = await pagingKeyway(t, fleet);
  const r = await status(server);
  assert.equal(r.code, 0, r.stderr);
  const ids = idsOf(r.stdout);
  const expected = [...Array.from({ length: n / 2 }, (_, i) => 2 * i).filter((i) => i !== lastOfPage1 + 4), lastOfPage1 + 1].sort((a, b) => a - b).map(idOf);
  assert.deepEqual(ids, expected);
  assert.equal(new Set(ids).size, ids.length);
});

test('a keyway older than paging ignores limit and sends every row: read in one request', async (t) => {
  const fleet = new Fleet();
  for (let i = 0; i < PROXIES_PAGE_LIMIT + 1; i++) fleet.connect(idOf(i));
  const rows = fleet.registry.proxies();
  const server = await fakeServer({ '/readyz': READY, '/v1/proxies': JSON.stringify({ proxies: rows }) });
  t.after(() => server.close());
  const r = await status(server.url);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(idsOf(r.stdout), rows.map((p) => p.id));
  assert.deepEqual(server.requests, ['/readyz', `/v1/proxies?limit=${PROXIES_PAGE_LIMIT}`]);
});

test('a continue that would page forever, or is not a token, is an error naming the server', async (t) => {
  const row = new Fleet();
  row.connect(idOf(1));
  const proxies = row.registry.proxies();
  for (const [body, problem] of [
    [{ proxies, continue: 'same' }, /answered a continue token it was sent before \(after 2 rows\)/],
    [{ proxies, continue: 5 }, /not a proxy list \("continue" is 5, not a token\)/],
    [{ proxies, continue: '' }, /not a proxy list \("continue" is "", not a token\)/],
  ] as const) {
    const server = await fakeServer({ '/readyz': READY, '/v1/proxies': JSON.stringify(body) });
    t.after(() => server.close());
    const r = await status(server.url);
    assert.equal(r.code, 1, JSON.stringify(body));
    assert.equal(r.stdout, '');
    assert.match(r.stderr, problem);
    assert.match(r.stderr, new RegExp(`is ${server.url}/ a keyway REST API\\?\\n$`));
    assert.ok(server.requests.length <= 3, 'it stops');
  }
});

test('the token goes back unchanged, percent-encoded; a 404 after the first page is an error, not "no xDS"', async (t) => {
  const seen: string[] = [];
  const server = http.createServer((req, res) => {
    seen.push(req.url ?? '');
    const url = new URL(req.url ?? '/', 'http://x');
    res.setHeader('content-type', 'application/json');
    if (url.pathname === '/readyz') return void res.end(READY);
    const token = url.searchParams.get('continue');
    if (token === null) return void res.end(JSON.stringify({ proxies: [], continue: 'a+b/c=&d' }));
    if (token === 'a+b/c=&d') return void res.end(JSON.stringify({ proxies: [], continue: 'gone' }));
    res.statusCode = 404;
    res.end(JSON.stringify({ error: { code: 'NOT_FOUND', message: 'no route' } }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const r = await status(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
  assert.deepEqual(seen.slice(1), [`/v1/proxies?limit=${PROXIES_PAGE_LIMIT}`, `/v1/proxies?limit=${PROXIES_PAGE_LIMIT}&continue=a%2Bb%2Fc%3D%26d`, `/v1/proxies?limit=${PROXIES_PAGE_LIMIT}&continue=gone`]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /failed with 404: NOT_FOUND: no route/);
});
