/**
 * `keyway status --server` pointed at a Service in front of several keyway replicas: each page of
 * `GET /v1/proxies` may reach another replica, and during a rollout one may run a release older
 * than paging, which ignores `limit` and `continue` and answers every row. Its rows up to the last
 * one already read were listed again (the agents, connected to every replica, twice each); they are
 * dropped, so each proxy is listed once, in id order (docs/cli.md).
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
import { captureIo } from './fake-server.js';

/**
 * A Service over two replicas: requests go to each in turn. The second runs a release older than
 * paging: `/readyz` without `status` and `reasons`, `/v1/proxies` every row at once whatever the query.
 */
async function service(t: { after: (fn: () => Promise<unknown>) => void }, current: string, olderRows: readonly ProxyStatus[]): Promise<{ url: string; answeredBy: string[] }> {
  const answeredBy: string[] = [];
  let next = 0;
  const server = http.createServer((req, res) => {
    const older = next++ % 2 === 1;
    answeredBy.push(`${older ? 'older' : 'current'} ${req.url ?? ''}`);
    res.setHeader('content-type', 'application/json');
    if (older) {
      const path = (req.url ?? '').split('?')[0];
      return void res.end(path === '/readyz' ? JSON.stringify({ ready: true, stale: false, sources: [] }) : JSON.stringify({ proxies: olderRows }));
    }
    void fetch(`${current}${req.url ?? ''}`).then(async (r) => {
      res.statusCode = r.status;
      res.end(await r.text());
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, answeredBy };
}

/**
 * `keyway status -o json` through the front (its first turn burnt, so `/readyz` goes to the older
 * replica, answered without status and read the same): the captured output and the ids listed.
 */
async function statusThrough(url: string): Promise<{ io: ReturnType<typeof captureIo>; ids: string[] }> {
  const io = captureIo();
  await fetch(`${url}/healthz`).then((r) => r.text());
  const code = await runClientCommand('status', ['--server', url, '-o', 'json'], {}, io);
  assert.equal(code, 0, io.stderr);
  return { io, ids: (JSON.parse(io.stdout) as { proxies: ProxyStatus[] }).proxies.map((p) => p.id) };
}

test('status over replicas of two releases, the older one answering page 2 with every row: each proxy once, in id order', async (t) => {
  const n = 2 * PROXIES_PAGE_LIMIT + 3;
  // Cache nodes' agents connect to every replica: both list them.
  const fleet = new Fleet();
  for (let i = 0; i < n; i++) fleet.connect(idOf(i), { agent: true });
  const current = await pagingKeyway(t, fleet);
  // The older replica answers /readyz first, so the current one answers page 1 and the older page 2.
  const front = await service(t, current, fleet.registry.proxies());
  const { io, ids } = await statusThrough(front.url);
  assert.deepEqual(
    front.answeredBy.slice(1).map((a) => a.split(' ')[0]),
    ['older', 'current', 'older'],
    'the premise: page 2 reached the older replica',
  );
  assert.equal(new Set(ids).size, ids.length, `no row twice (${ids.length} rows for ${n} proxies)`);
  assert.deepEqual(ids, Array.from({ length: n }, (_, i) => idOf(i)));
  assert.match(io.stderr, /ignored "continue"/, 'the mixed answer is said');
});

test('status over replicas of two releases: the Envoys connected to the older replica alone are listed, also those that sort before the rows already read', async (t) => {
  const n = 2 * PROXIES_PAGE_LIMIT + 3;
  const fleet = new Fleet();
  for (let i = 0; i < n; i++) fleet.connect(idOf(i), { agent: true });
  const current = await pagingKeyway(t, fleet);
  // The older replica has the agents too, and three Envoys of its own (an Envoy keeps one stream, to
  // one replica): two sort before page 1's last row (envoy-0499), one after every row.
  const older = new Fleet();
  for (let i = 0; i < n; i++) older.connect(idOf(i), { agent: true });
  const own = ['edge-a', 'envoy-0100-old', 'zz-edge'];
  for (const id of own) older.connect(id);
  const front = await service(t, current, older.registry.proxies());
  const { io, ids } = await statusThrough(front.url);
  assert.deepEqual(
    front.answeredBy.slice(1).map((a) => a.split(' ')[0]),
    ['older', 'current', 'older'],
    'the premise: page 2 reached the older replica',
  );
  const expected = [...Array.from({ length: n }, (_, i) => idOf(i)), ...own].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  assert.deepEqual(ids, expected, `every proxy once, in id order (${ids.length} rows for ${expected.length} proxies)`);
  // Page 1 listed envoy-0000..envoy-0499: those 500 rows of page 2 are the ones left out.
  assert.match(io.stderr, /ignored "continue" and listed 500 rows already read, left out/);
});

test('status over replicas of two releases with no proxy in common: every row the pages gave, in id order', async (t) => {
  const n = PROXIES_PAGE_LIMIT + 3;
  const fleet = new Fleet();
  for (let i = 0; i < n; i++) fleet.connect(idOf(i));
  const current = await pagingKeyway(t, fleet);
  // Envoys only: each replica lists its own, and nothing repeats to tell the older answer by.
  const older = new Fleet();
  const own = ['edge-a', 'envoy-0100-old', 'zz-edge'];
  for (const id of own) older.connect(id);
  const front = await service(t, current, older.registry.proxies());
  const { ids } = await statusThrough(front.url);
  // Page 1 (the current replica's first 500), then page 2 from the older one: all of its rows. The
  // current replica's rows past page 1 are not read (page 2 went elsewhere), as with any replica.
  const expected = [...Array.from({ length: PROXIES_PAGE_LIMIT }, (_, i) => idOf(i)), ...own].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  assert.deepEqual(ids, expected);
});
