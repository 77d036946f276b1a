/**
 * `GET /v1/proxies` pages like a Kubernetes list (docs/api.md "GET /v1/proxies"): `limit=N` returns
 * the first N rows in id order and a `continue` token when more follow; `continue=TOKEN` returns the
 * rows whose id sorts after the last one returned, read from the live list. `outOfSync=true` keeps
 * the rows with a type not SYNCED or a conflict. Bad values are 400 BAD_ARGUMENT naming the parameter.
 * Rows come from the xDS stage's own ProxyRegistry.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { FastifyInstance } from 'fastify';
import { buildAdminApp } from '../../src/admin/index.js';
import { MAX_PROXIES_LIMIT, type ProxiesBody } from '../../src/admin/api-types.js';
import { decodeCursor, encodeCursor } from '../../src/admin/proxy-routes.js';
import type { OpenApiDocument } from '../../src/admin/openapi/index.js';
import { ServingState } from '../../src/app/serving-state.js';
import type { StreamRecord } from '../../src/xds/server/proxy-state.js';
import { bodyValidator } from './openapi/openapi-shape.js';
import { Fleet, idOf, stream } from './proxy-fleet.js';

async function appOver(t: { after: (fn: () => Promise<unknown>) => void }, fleet: Fleet): Promise<FastifyInstance> {
  const app = await buildAdminApp(new ServingState(), { readers: [{ proxies: fleet.reader() }] });
  t.after(() => app.close());
  return app;
}

async function page(app: FastifyInstance, query: Record<string, string>): Promise<ProxiesBody> {
  const res = await app.inject({ url: '/v1/proxies', query });
  assert.equal(res.statusCode, 200, `${JSON.stringify(query)}: ${res.body}`);
  return res.json() as ProxiesBody;
}

/** Follows `continue` from the first page until a page comes without one; `between` runs after each page. */
async function pageThrough(app: FastifyInstance, query: Record<string, string>, between: (n: number) => void = () => {}): Promise<ProxiesBody[]> {
  const pages: ProxiesBody[] = [];
  let token: string | undefined;
  do {
    const body = await page(app, { ...query, ...(token !== undefined && { continue: token }) });
    pages.push(body);
    token = body.continue;
    between(pages.length);
    assert.ok(pages.length <= 1000, 'the pages end');
  } while (token !== undefined);
  return pages;
}

test('paging with limit returns every proxy exactly once, in id order, and continue only while rows follow', async (t) => {
  const fleet = new Fleet();
  for (let i = 0; i < 9; i++) fleet.connect(idOf(i));
  const app = await appOver(t, fleet);
  const whole = await page(app, {});
  assert.deepEqual(Object.keys(whole), ['proxies'], 'without limit the answer is as before paging: every row, no continue');
  assert.equal(whole.proxies.length, 9);

  for (const limit of [1, 2, 3, 4, 9, 10, MAX_PROXIES_LIMIT]) {
    const pages = await pageThrough(app, { limit: String(limit) });
    assert.deepEqual(pages.flatMap((p) => p.proxies), whole.proxies, `limit=${limit}: the same rows as the whole list`);
    assert.equal(pages.length, Math.ceil(9 / limit), `limit=${limit}: no empty last page (continue is exact)`);
    for (const p of pages) assert.ok(p.proxies.length <= limit && p.proxies.length > 0, `limit=${limit}`);
    // The token names the last row returned.
    for (const p of pages.slice(0, -1)) assert.equal(decodeCursor(p.continue!)?.after, p.proxies.at(-1)!.id);
  }

  // A page builds only its rows and the one that says whether more follow, never the whole list.
  fleet.rowsBuilt = 0;
  fleet.wholeLists = 0;
  await page(app, { limit: '2', names: '0' });
  assert.deepEqual([fleet.rowsBuilt, fleet.wholeLists], [3, 0]);

  const none = new Fleet();
  const empty = await appOver(t, none);
  assert.deepEqual(await page(empty, { limit: '5' }), { proxies: [] });
});

test('proxies that connect or disconnect between pages: each row at most once, in order; those there throughout exactly once', async (t) => {
  const fleet = new Fleet();
  for (let i = 0; i < 20; i += 2) fleet.connect(idOf(i)); // envoy-000, envoy-002, ... envoy-018
  const app = await appOver(t, fleet);
  const pages = await pageThrough(app, { limit: '3' }, (n) => {
    if (n === 1) {
      // Page 1 was 000, 002, 004. Its last row leaves: the token still says where to go on.
      fleet.disconnect(idOf(4));
      fleet.disconnect(idOf(0)); // already returned
      fleet.disconnect(idOf(10)); // not returned yet: never returned
      fleet.connect(idOf(1)); // sorts before the token: not returned (it would be on a page already read)
      fleet.connect(idOf(5)); // sorts after the token: returned on a later page
      fleet.connect(idOf(19));
    }
    if (n === 2) {
      fleet.disconnect(idOf(19)); // came and went before its page
      fleet.connect(idOf(4)); // reconnects behind the cursor: not returned again
    }
  });
  const ids = pages.flatMap((p) => p.proxies.map((r) => r.id));
  assert.deepEqual(ids, [0, 2, 4, 5, 6, 8, 12, 14, 16, 18].map(idOf));
  assert.equal(new Set(ids).size, ids.length, 'no row twice');
  for (let i = 1; i < ids.length; i++) assert.ok(ids[i - 1]! < ids[i]!, 'strictly increasing ids');
});

test('outOfSync=true keeps the rows with a type not SYNCED or a conflict, and pages them', async (t) => {
  const fleet = new Fleet();
  const nacked = new Set([3, 4, 11, 17]);
  for (let i = 0; i < 20; i++) fleet.connect(idOf(i), { nack: nacked.has(i) });
  // A node id used from two hosts is out of sync even with every type SYNCED.
  const twin = { ...stream(idOf(8)), id: 's-twin', peer: { address: '10.0.0.2:1' } };
  fleet.registry.add({ ...fleet.streams.get(idOf(8))!, peer: { address: '10.0.0.1:1' } } as StreamRecord);
  fleet.registry.add(twin);
  const app = await appOver(t, fleet);
  const expected = [3, 4, 8, 11, 17].map(idOf);

  const all = await page(app, { outOfSync: 'true' });
  assert.deepEqual(all.proxies.map((r) => r.id), expected);
  assert.equal(all.continue, undefined);
  const pages = await pageThrough(app, { outOfSync: 'true', limit: '2' });
  assert.deepEqual(pages.map((p) => p.proxies.map((r) => r.id)), [expected.slice(0, 2), expected.slice(2, 4), expected.slice(4)]);
  // outOfSync=false is no filter.
  assert.deepEqual((await page(app, { outOfSync: 'false' })).proxies, (await page(app, {})).proxies);
  // A proxy filter with a page: the one row, when it passes.
  assert.deepEqual((await page(app, { proxy: idOf(3), outOfSync: 'true', limit: '1' })).proxies.map((r) => r.id), [idOf(3)]);
  assert.deepEqual(await page(app, { proxy: idOf(2), outOfSync: 'true' }), { proxies: [] });
  assert.deepEqual(await page(app, { proxy: idOf(2), continue: encodeCursor({ after: idOf(2), outOfSync: false }) }), { proxies: [] });
});

test('an id the reader counts but serves no row for (an agent within its reconnect grace) is skipped', async (t) => {
  const fleet = new Fleet();
  fleet.connect('a');
  fleet.connect('c', { agent: true });
  fleet.graceIds.add('b');
  fleet.graceIds.add('d');
  const app = await appOver(t, fleet);
  const first = await page(app, { limit: '1' });
  assert.deepEqual(first.proxies.map((r) => r.id), ['a']);
  const second = await page(app, { limit: '1', continue: first.continue! });
  assert.deepEqual(second, { proxies: [(await page(app, { proxy: 'c' })).proxies[0]!] }, 'c, and no continue: d has no row');
});

test('bad limit, continue and outOfSync values are 400 BAD_ARGUMENT naming the parameter, in the documented error body', async (t) => {
  const fleet = new Fleet();
  for (let i = 0; i < 3; i++) fleet.connect(idOf(i));
  const app = await appOver(t, fleet);
  const doc = (await app.inject('/openapi.json')).json() as OpenApiDocument;
  const check = bodyValidator(doc);
  const errorSchema = (doc.paths['/v1/proxies']!.get! as { responses: Record<string, { content: Record<string, { schema: unknown }> }> }).responses['400']!.content['application/json']!.schema;

  const b64 = (text: string): string => Buffer.from(text, 'utf8').toString('base64url');
  const good = encodeCursor({ after: idOf(0), outOfSync: false });
  const cases: [string, string, RegExp][] = [
    // limit: an integer from 1 to MAX_PROXIES_LIMIT in digits.
    ...['0', '00', '-1', '1.5', '1e3', '0x1', '%205', '5%20', '', 'ten', String(MAX_PROXIES_LIMIT + 1), '9'.repeat(400)].map(
      (v): [string, string, RegExp] => [`limit=${v}`, 'limit', new RegExp(`"limit" must be an integer from 1 to ${MAX_PROXIES_LIMIT}, got`)],
    ),
    ['limit=1&limit=2', 'limit', /given 2 times/],
    // continue: only a token this list returned, unchanged.
    ...[
      '',
      'not a token',
      'abc%21',
      b64('not json'),
      b64('[]'),
      b64('null'),
      b64(JSON.stringify({ list: 'changes', after: 'x', outOfSync: false })), // another list's
      b64(JSON.stringify({ list: 'proxies', after: 7, outOfSync: false })),
      b64(JSON.stringify({ list: 'proxies', after: 'x' })),
      b64(JSON.stringify({ list: 'proxies', after: 'x', outOfSync: false, limit: 5 })),
      `${good}=`, // padded
      good.slice(0, -1) + (good.endsWith('A') ? 'B' : 'A'), // edited
      Buffer.from([0xff, 0xfe, 0x7b]).toString('base64url'), // not UTF-8
    ].map((v): [string, string, RegExp] => [`continue=${encodeURIComponent(v)}`, 'continue', /"continue" is not a continue token of GET \/v1\/proxies/]),
    [`continue=${good}&continue=${good}`, 'continue', /given 2 times/],
    // A token of the outOfSync list is no position in the whole list, and the other way round.
    [`continue=${encodeCursor({ after: 'x', outOfSync: true })}`, 'continue', /returned for outOfSync=true/],
    [`continue=${good}&outOfSync=true`, 'continue', /returned for outOfSync=false/],
    // outOfSync: true or false.
    ...['1', 'yes', 'TRUE', '', 'true%20'].map((v): [string, string, RegExp] => [`outOfSync=${v}`, 'outOfSync', /"outOfSync" must be true or false, got/]),
    ['outOfSync=true&outOfSync=true', 'outOfSync', /given 2 times/],
  ];
  fleet.rowsBuilt = 0;
  fleet.wholeLists = 0;
  for (const [query, parameter, message] of cases) {
    const res = await app.inject(`/v1/proxies?${query}`);
    assert.equal(res.statusCode, 400, `${query}: ${res.body}`);
    const body = res.json();
    assert.deepEqual([body.error.code, body.error.parameter], ['BAD_ARGUMENT', parameter], query);
    assert.match(body.error.message, message, query);
    assert.ok(body.error.message.length < 300, `${query}: the message quotes the value cut`);
    assert.equal(check(errorSchema, body), undefined, query);
  }
  assert.deepEqual([fleet.rowsBuilt, fleet.wholeLists], [0, 0], 'a refused request reads no proxy');
  // The bounds themselves are fine, leading zeros too (as for `names`).
  for (const limit of ['1', '007', String(MAX_PROXIES_LIMIT)]) assert.ok((await page(app, { limit })).proxies.length > 0, limit);
});
