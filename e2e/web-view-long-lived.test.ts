/**
 * The web view left open for days, in real headless Chromium with its clock stubbed (playwright's
 * clock API, which also drives `AbortSignal.timeout`), so hours pass in a few steps. The page and
 * its assets come from the real admin app; the API answers are played by the test (page.route) so
 * a hung map download, a refused token, a sleep and a keyway gone for minutes are exact. The last
 * test drives a real keyway admin app through 500 map versions and compares the page's heap, DOM
 * and listeners after 50 and after 500. Outcomes only, no times: counts of requests, badge states,
 * the lines under the header, heap ratios with wide margins.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { BrowserContext, Page, Request, Route } from 'playwright-core';
import { buildAdminApp } from '../src/admin/index.js';
import { ServingState } from '../src/app/serving-state.js';
import type { Endpoint } from '../src/core/endpoint.js';
import type { ShardMap } from '../src/core/shard-map.js';
import { DEFAULT_XDS_SETTINGS } from '../src/core/settings.js';
import { computeShardMap, diffShardMaps } from '../src/sharding/index.js';
import { chromiumSkipReason, openWebView, type OpenWebView } from './support/chromium.js';
import { eventually } from '../test/support/eventually.js';

const policy = { shardCount: 256, replicas: 2, spread: 'none' as const };
const nodes = (n: number): Endpoint[] =>
  Array.from({ length: n }, (_, i) => ({ id: `gpu-${i}`, address: '10.0.0.1', port: 7000 + i, locality: { region: 'r', zone: `z${i % 2}`, subzone: `f${i % 4}` }, weight: 1, ready: true }));

/** The `/v1/shardmap` body of a map, as keyway sends it (the fields the page reads). */
function body(map: ShardMap): Record<string, unknown> {
  const primaries = new Map<string, number>();
  for (const owners of map.owners) primaries.set(owners[0]!, (primaries.get(owners[0]!) ?? 0) + 1);
  return {
    version: map.version,
    shardCount: map.policy.shardCount,
    replicas: map.policy.replicas,
    spread: map.policy.spread,
    shards: map.owners.map((owners, shard) => ({ shard, owners })),
    endpoints: map.endpoints.map((e) => ({ ...e, draining: false, shardsOwned: 0, shardsPrimary: primaries.get(e.id) ?? 0 })),
    warnings: [],
    updatedAt: new Date().toISOString(),
    handoff: { transitions: [], drains: [] },
    hotShards: { shards: [], moves: 0, deferred: 0 },
    stale: false,
    sources: [],
  };
}

const V1 = computeShardMap(nodes(8), policy);
const V2 = computeShardMap(nodes(7), policy);

/** How the played keyway answers a path: `ok`, `hold` (accepted, answered only when the test releases it), `bad-gateway` (a proxy's 502 page), `refused` (connection refused), `unauthorized` (401: the admin token changed). */
type Mode = 'ok' | 'hold' | 'bad-gateway' | 'refused' | 'unauthorized';

describe('web view left open: hung reads, sleeps, a changed token, keyway gone for minutes', { skip: chromiumSkipReason() }, () => {
  let origin: string;
  let context: BrowserContext;
  let view: OpenWebView | undefined;

  before(async () => {
    view = await openWebView(await buildAdminApp(new ServingState()));
    ({ origin, context } = view);
  });

  after(async () => {
    await view?.close();
  });

  /** A page over a played keyway whose answers the test sets per path, with requests counted. */
  async function played(t: { after(fn: () => Promise<void>): void }, first: ShardMap = V1) {
    const modes: Record<string, Mode> = { '/readyz': 'ok', '/v1/shardmap': 'ok', '/v1/changes': 'ok', '/v1/proxies': 'ok' };
    let map = first;
    const held: { path: string; route: Route }[] = [];
    const seen: { path: string; ifNoneMatch: string | undefined; auth: string | undefined }[] = [];
    const errors: string[] = [];
    const page = await context.newPage();
    t.after(() => page.close());
    page.on('pageerror', (err) => errors.push(err.message));
    /** /readyz requests not yet answered or failed: the page's poll waiting. */
    const polls = new Set<Request>();
    page.on('request', (r: Request) => {
      const path = new URL(r.url()).pathname;
      if (path in modes) seen.push({ path, ifNoneMatch: r.headers()['if-none-match'], auth: r.headers()['authorization'] });
      if (path === '/readyz') polls.add(r);
    });
    page.on('requestfinished', (r) => polls.delete(r));
    page.on('requestfailed', (r) => polls.delete(r));
    /** Until no poll waits for /readyz, then one round trip more for its last steps (the body read, the next timer set). */
    const idle = async () => {
      await eventually('no poll under way', () => polls.size, { accept: (n) => n === 0, timeoutMs: 10_000, intervalMs: 20 });
      await page.evaluate(`fetch('/healthz').then((r) => r.text())`);
    };
    const ok = (path: string, route: Route) => {
      if (path === '/readyz') return route.fulfill({ json: { ready: true, status: 'ready', version: map.version, stale: false, sources: [] } });
      if (path === '/v1/shardmap') {
        const etag = `W/"${map.version}"`;
        if (route.request().headers()['if-none-match'] === etag) return route.fulfill({ status: 304, headers: { etag } });
        return route.fulfill({ json: body(map), headers: { etag } });
      }
      if (path === '/v1/changes') return route.fulfill({ json: { changes: [] } });
      return route.fulfill({ json: { proxies: [] } });
    };
    await page.route(/\/(readyz|v1\/.*)$/, async (route) => {
      const path = new URL(route.request().url()).pathname;
      switch (modes[path] ?? 'ok') {
        case 'hold':
          held.push({ path, route });
          return;
        case 'bad-gateway':
          return route.fulfill({ status: 502, contentType: 'text/html', body: '<html><body>502 Bad Gateway</body></html>' });
        case 'refused':
          return route.abort('connectionrefused');
        case 'unauthorized':
          return route.fulfill({ status: 401, json: { error: { code: 'UNAUTHENTICATED', message: `${path} needs the admin token` } } });
        default:
          return ok(path, route);
      }
    });
    await page.clock.install();
    await page.goto(`${origin}/`);
    await eventually('the first map', () => page.getAttribute('#grid', 'data-version'), { accept: (v) => v === first.version, timeoutMs: 15_000, intervalMs: 50 });
    await eventually('ready', () => page.getAttribute('#status', 'data-state'), { accept: (s) => s === 'ready', timeoutMs: 15_000, intervalMs: 50 });
    // From here on the page's time moves only when the test moves it.
    await page.clock.pauseAt(Number(await page.evaluate('Date.now()')) + 1000);
    await idle();
    const count = (path: string) => seen.filter((s) => s.path === path).length;
    return {
      page,
      modes,
      held,
      seen,
      errors,
      count,
      idle,
      setMap: (m: ShardMap) => void (map = m),
      /** Releases the held requests with the answers of a keyway that is back. */
      release: async () => {
        for (const { path, route } of held.splice(0)) await ok(path, route);
      },
      /**
       * One poll: the page's clock moves `stepMs` at a time until the page asks /readyz again. A
       * poll sets its timer once it ends, which may be after a step: so steps, not one jump.
       */
      tick: async (stepMs = 100) => {
        const before = count('/readyz');
        for (let i = 0; i < 100 && count('/readyz') === before; i++) {
          await page.clock.runFor(stepMs);
          await new Promise((r) => setTimeout(r, 20));
        }
        assert.ok(count('/readyz') > before, `no /readyz poll in ${100 * stepMs} ms of the page's time`);
      },
      badge: () => page.getAttribute('#status', 'data-state'),
      reason: (code: string) => page.locator(`#reasons li[data-code="${code}"]`),
    };
  }

  test('a map download that hangs does not hold the readiness poll: a keyway gone meanwhile shows as disconnected', async (t) => {
    const p = await played(t);
    // A new version; its map download is accepted and never answered (a partition mid-download).
    p.modes['/v1/shardmap'] = 'hold';
    p.setMap(V2);
    await p.tick();
    await eventually('the map download under way', () => p.held.length, { accept: (n) => n === 1, timeoutMs: 10_000, intervalMs: 20 });
    // keyway goes away: a proxy in front answers 502. /readyz is still asked every second.
    p.modes['/readyz'] = 'bad-gateway';
    for (let i = 0; i < 3; i++) await p.tick();
    await eventually('disconnected', p.badge, { accept: (s) => s === 'disconnected', timeoutMs: 10_000, intervalMs: 20 });
    assert.equal(p.count('/v1/shardmap'), 2, 'the first map and the one download still under way: no second download started beside it');
    assert.equal(await p.page.getAttribute('#grid', 'data-version'), V1.version);
    // keyway is back, the download completes: the new map, ready.
    p.modes['/readyz'] = 'ok';
    p.modes['/v1/shardmap'] = 'ok';
    await p.release();
    await p.tick();
    await eventually('the new map', () => p.page.getAttribute('#grid', 'data-version'), { accept: (v) => v === V2.version, timeoutMs: 10_000, intervalMs: 20 });
    await eventually('ready', p.badge, { accept: (s) => s === 'ready', timeoutMs: 10_000, intervalMs: 20 });
    assert.deepEqual(p.errors, []);
  });

  test('after a 3-hour sleep the page says it is not current while its first request waits for an answer', async (t) => {
    const p = await played(t);
    // Waking, the network is not back yet: requests are accepted and not answered.
    for (const path of Object.keys(p.modes)) p.modes[path] = 'hold';
    const before = p.count('/readyz');
    await p.page.clock.fastForward('03:00:00');
    await eventually('the first poll after waking', () => p.count('/readyz'), { accept: (n) => n > before, timeoutMs: 10_000, intervalMs: 20 });
    await eventually('not shown as ready', p.badge, { accept: (s) => s === 'disconnected', timeoutMs: 10_000, intervalMs: 20 });
    assert.match((await p.reason('DISCONNECTED').textContent()) ?? '', /no answer for 108\d\d s: the page was not running/);
    assert.match((await p.page.textContent('#summary-updated')) ?? '', /\(3h0m ago\)/);
    // The network is back: ready again, the map asked for with its ETag (a 304), one of each.
    for (const path of Object.keys(p.modes)) p.modes[path] = 'ok';
    const seenBefore = p.seen.length;
    await p.release();
    await eventually('ready', p.badge, { accept: (s) => s === 'ready', timeoutMs: 10_000, intervalMs: 20 });
    await eventually('the map asked for again', () => p.count('/v1/shardmap'), { accept: (n) => n >= 2, timeoutMs: 10_000, intervalMs: 20 });
    const maps = p.seen.slice(seenBefore).filter((s) => s.path === '/v1/shardmap');
    assert.deepEqual(maps.map((s) => s.ifNoneMatch), [`W/"${V1.version}"`]);
    assert.equal(await p.reason('DISCONNECTED').count(), 0);
    assert.deepEqual(p.errors, []);
  });

  test('after a sleep, keyway answers with a new version whose map is slow to come: ready, the old map marked as not current until the new one is drawn', async (t) => {
    const p = await played(t);
    for (const path of Object.keys(p.modes)) p.modes[path] = 'hold';
    p.setMap(V2);
    const before = p.count('/readyz');
    await p.page.clock.fastForward('03:00:00');
    await eventually('the first poll after waking', () => p.count('/readyz'), { accept: (n) => n > before, timeoutMs: 10_000, intervalMs: 20 });
    await eventually('disconnected', p.badge, { accept: (s) => s === 'disconnected', timeoutMs: 10_000, intervalMs: 20 });
    // The network is back; the new map's download is slow (megabytes over a VPN).
    p.modes['/readyz'] = 'ok';
    p.modes['/v1/changes'] = 'ok';
    p.modes['/v1/proxies'] = 'ok';
    const mapsBefore = p.count('/v1/shardmap');
    await p.release();
    await eventually('ready', p.badge, { accept: (s) => s === 'ready', timeoutMs: 10_000, intervalMs: 20 });
    await eventually('the download under way', () => p.held.filter((h) => h.path === '/v1/shardmap').length, { accept: (n) => n === 1, timeoutMs: 10_000, intervalMs: 20 });
    assert.equal(await p.page.getAttribute('#grid', 'data-version'), V1.version);
    await eventually('the old map marked', () => p.reason('MAP_UNAVAILABLE').count(), { accept: (n) => n === 1, timeoutMs: 10_000, intervalMs: 20 });
    const line = (await p.reason('MAP_UNAVAILABLE').textContent()) ?? '';
    assert.match(line, new RegExp(`shard map is version ${V2.version}; the map shown is version ${V1.version}`));
    assert.equal(await p.reason('DISCONNECTED').count(), 0);
    // Still marked a poll later, with no second download beside the first.
    await p.tick();
    await p.idle();
    assert.equal(await p.reason('MAP_UNAVAILABLE').count(), 1);
    assert.equal(p.count('/v1/shardmap'), mapsBefore + 1);
    // The download completes: the new map, and the mark goes.
    p.modes['/v1/shardmap'] = 'ok';
    await p.release();
    await eventually('the new map', () => p.page.getAttribute('#grid', 'data-version'), { accept: (v) => v === V2.version, timeoutMs: 10_000, intervalMs: 20 });
    await p.tick();
    await p.idle();
    assert.equal(await p.reason('MAP_UNAVAILABLE').count(), 0);
    assert.equal(await p.badge(), 'ready');
    assert.deepEqual(p.errors, []);
  });

  test('a new version read within the poll that asked for it is never marked as not current', async (t) => {
    const p = await played(t);
    let marked = 0;
    await p.page.exposeFunction('kwMarked', () => void marked++);
    await p.page.evaluate(`new MutationObserver(() => { if (document.querySelector('#reasons li[data-code="MAP_UNAVAILABLE"]')) window.kwMarked(); }).observe(document.getElementById('reasons'), { childList: true })`);
    for (const m of [V2, V1, V2]) {
      p.setMap(m);
      await p.tick();
      await eventually('the new map', () => p.page.getAttribute('#grid', 'data-version'), { accept: (v) => v === m.version, timeoutMs: 10_000, intervalMs: 20 });
      await p.idle();
    }
    await p.tick();
    await p.idle();
    assert.equal(marked, 0);
    assert.deepEqual(p.errors, []);
  });

  test('a map keyway refuses after the admin token changed stays on the page marked as not current, and the mark goes with the new map', async (t) => {
    const p = await played(t);
    p.modes['/v1/shardmap'] = 'unauthorized';
    p.modes['/v1/changes'] = 'unauthorized';
    p.modes['/v1/proxies'] = 'unauthorized';
    p.setMap(V2);
    await p.tick();
    await eventually('the refusal said', () => p.reason('MAP_UNAVAILABLE').count(), { accept: (n) => n === 1, timeoutMs: 10_000, intervalMs: 20 });
    const line = (await p.reason('MAP_UNAVAILABLE').textContent()) ?? '';
    assert.match(line, /HTTP 401: \/v1\/shardmap needs the admin token/);
    assert.match(line, new RegExp(`the map shown is version ${V1.version}`));
    // The grid and the header agree on what is shown: the last map read, not a blank header over an old grid.
    assert.equal(await p.page.getAttribute('#grid', 'data-version'), V1.version);
    assert.equal(await p.page.textContent('#summary-version'), V1.version);
    assert.equal(await p.page.isVisible('#token-form'), true);
    // The token is right again (here: keyway stops refusing); the next poll reads the new map.
    for (const path of Object.keys(p.modes)) p.modes[path] = 'ok';
    await p.tick();
    await eventually('the new map', () => p.page.getAttribute('#grid', 'data-version'), { accept: (v) => v === V2.version, timeoutMs: 10_000, intervalMs: 20 });
    await eventually('the mark gone', () => p.reason('MAP_UNAVAILABLE').count(), { accept: (n) => n === 0, timeoutMs: 10_000, intervalMs: 20 });
    assert.deepEqual(p.errors, []);
  });

  test('a stored admin token keyway refuses is not sent again: the page asks for the new one and keeps the last map, marked', async (t) => {
    const p = await played(t);
    await p.page.evaluate(`sessionStorage.setItem('keyway.adminToken', 'old-token')`);
    await p.tick();
    await p.idle();
    assert.ok(p.seen.some((s) => s.auth === 'Bearer old-token'), 'the stored token is sent');
    // The token is rotated: keyway refuses the old one, and has a new map meanwhile.
    for (const path of ['/v1/shardmap', '/v1/changes', '/v1/proxies']) p.modes[path] = 'unauthorized';
    p.setMap(V2);
    await p.tick();
    await eventually('the form, asking for the new token', () => p.page.isVisible('#token-form'), { accept: (v) => v, timeoutMs: 10_000, intervalMs: 20 });
    assert.match((await p.page.textContent('#token-message')) ?? '', /refused/);
    await p.idle();
    // Five polls later (the proxies table too), no request carried the refused token again.
    const from = p.seen.length;
    for (let i = 0; i < 5; i++) await p.tick();
    await p.idle();
    assert.ok(p.seen.length - from >= 10, `${p.seen.length - from} requests in five polls`);
    assert.deepEqual(
      p.seen.slice(from).filter((s) => s.auth !== undefined).map((s) => `${s.path} ${s.auth}`),
      [],
    );
    assert.equal(await p.page.evaluate(`sessionStorage.getItem('keyway.adminToken')`), null);
    // The last map read stays, marked as not current, with why.
    assert.equal(await p.page.getAttribute('#grid', 'data-version'), V1.version);
    const line = (await p.reason('MAP_UNAVAILABLE').textContent()) ?? '';
    assert.match(line, new RegExp(`HTTP 401: /v1/shardmap needs the admin token\\); the map shown is version ${V1.version}`));
    assert.match(line, /admin token the page had was refused and is no longer sent/);
    // The new token typed in: sent from then on, the new map read, the mark gone.
    for (const path of Object.keys(p.modes)) p.modes[path] = 'ok';
    const typed = p.seen.length;
    await p.page.fill('#token', 'new-token');
    await p.page.click('#token-form button');
    await p.tick();
    await eventually('the new map', () => p.page.getAttribute('#grid', 'data-version'), { accept: (v) => v === V2.version, timeoutMs: 10_000, intervalMs: 20 });
    await p.tick();
    await p.idle();
    assert.equal(await p.reason('MAP_UNAVAILABLE').count(), 0);
    assert.equal(await p.page.isVisible('#token-form'), false);
    assert.deepEqual([...new Set(p.seen.slice(typed).map((s) => s.auth))], ['Bearer new-token']);
    assert.deepEqual(p.errors, []);
  });

  test('a 401 to /readyz (from something in front of keyway: keyway never asks a token there) keeps the stored token', async (t) => {
    const p = await played(t);
    await p.page.evaluate(`sessionStorage.setItem('keyway.adminToken', 'kept-token')`);
    p.modes['/readyz'] = 'unauthorized';
    await p.tick();
    await p.idle();
    await p.tick();
    await p.idle();
    assert.ok(p.seen.filter((s) => s.path === '/readyz' && s.auth === 'Bearer kept-token').length >= 2, 'the token still sent on the next poll');
    assert.equal(await p.page.evaluate(`sessionStorage.getItem('keyway.adminToken')`), 'kept-token');
    assert.deepEqual(p.errors, []);
  });

  test('a sleep while a /readyz poll waits: its answer, to a request sent before the sleep, is not shown as current', async (t) => {
    const p = await played(t);
    p.modes['/readyz'] = 'hold';
    await p.tick();
    await eventually('the poll under way', () => p.held.length, { accept: (n) => n === 1, timeoutMs: 10_000, intervalMs: 20 });
    // The computer sleeps for 3 hours while the poll waits: the wall clock jumps and no timer runs
    // (AbortSignal.timeout counts active time only); the answer comes in on waking.
    const asleep = Number(await p.page.evaluate('Date.now()'));
    await p.page.clock.setSystemTime(asleep + 3 * 3600_000);
    await p.release();
    await eventually('not shown as ready', p.badge, { accept: (s) => s === 'disconnected', timeoutMs: 10_000, intervalMs: 20 });
    assert.match((await p.reason('DISCONNECTED').textContent()) ?? '', /sent 108\d\d s ago: the page was not running/);
    // It asks again; while that poll waits (the network is not back yet), it still says so.
    await p.tick();
    await eventually('the next poll under way', () => p.held.length, { accept: (n) => n === 1, timeoutMs: 10_000, intervalMs: 20 });
    assert.equal(await p.badge(), 'disconnected');
    // Answered: ready, and the map asked for again with its ETag.
    const seenBefore = p.seen.length;
    p.modes['/readyz'] = 'ok';
    await p.release();
    await eventually('ready', p.badge, { accept: (s) => s === 'ready', timeoutMs: 10_000, intervalMs: 20 });
    await eventually('the map asked for again', () => p.seen.slice(seenBefore).filter((s) => s.path === '/v1/shardmap').length, { accept: (n) => n === 1, timeoutMs: 10_000, intervalMs: 20 });
    assert.deepEqual(p.seen.slice(seenBefore).filter((s) => s.path === '/v1/shardmap').map((s) => s.ifNoneMatch), [`W/"${V1.version}"`]);
    assert.equal(await p.reason('DISCONNECTED').count(), 0);
    assert.deepEqual(p.errors, []);
  });

  test('colours of node ids gone from the map are forgotten, and an id that stays keeps its colour', async (t) => {
    // Every pod but gpu-0 replaced 30 times over, with new names each time (a Deployment's rollouts).
    const generation = (g: number): ShardMap => computeShardMap(nodes(8).map((e, i) => (i === 0 ? e : { ...e, id: `pod-${g}-${i}` })), policy);
    const colors = (page: Page) =>
      page.$$eval('#legend [data-endpoint]', (els) => els.map((e) => `${e.getAttribute('data-endpoint')} ${e.getAttribute('data-color')}`).sort());
    const p = await played(t);
    const kept = (await colors(p.page)).find((c) => c.startsWith('gpu-0 '));
    let last = V1;
    for (let g = 1; g <= 30; g++) {
      last = generation(g);
      p.setMap(last);
      await p.tick();
      await eventually(`generation ${g}`, () => p.page.getAttribute('#grid', 'data-version'), { accept: (v) => v === last.version, timeoutMs: 10_000, intervalMs: 20 });
    }
    const churned = await colors(p.page);
    assert.ok(churned.includes(kept!), `gpu-0 keeps ${kept}: ${churned.join(', ')}`);
    // A page opened on this map now colours it alike: nothing of the 210 ids gone is remembered.
    const fresh = await played(t, last);
    assert.deepEqual(churned, await colors(fresh.page));
    assert.equal(await p.page.getAttribute('#grid', 'data-colors'), '8');
    assert.deepEqual([...p.errors, ...fresh.errors], []);
  });

  test('a node that comes back in another fabric under the same id (a StatefulSet pod rescheduled) takes the hue of its new fabric', async (t) => {
    // Hue of a legend colour, in degrees: endpoints of one fabric share one (docs/api.md "Web view").
    const hueOf = (hex: string): number => {
      const [r, g, b] = [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16) / 255) as [number, number, number];
      const max = Math.max(r, g, b);
      const d = max - Math.min(r, g, b);
      const h = max === r ? ((g - b) / d) % 6 : max === g ? (b - r) / d + 2 : (r - g) / d + 4;
      return (h * 60 + 360) % 360;
    };
    const colorOf = async (page: Page, id: string) => (await page.getAttribute(`#legend [data-endpoint="${id}"]`, 'data-color')) ?? '';
    const p = await played(t);
    // gpu-0 and gpu-4 (fabric f0) are rescheduled onto fabric f1 (gpu-1, gpu-5) under the same names.
    const moved = computeShardMap(
      nodes(8).map((e, i) => (i % 4 === 0 ? { ...e, locality: { region: 'r', zone: 'z1', subzone: 'f1' } } : e)),
      policy,
    );
    p.setMap(moved);
    await p.tick();
    await eventually('the map after the move', () => p.page.getAttribute('#grid', 'data-version'), { accept: (v) => v === moved.version, timeoutMs: 10_000, intervalMs: 20 });
    const f1 = hueOf(await colorOf(p.page, 'gpu-1'));
    for (const id of ['gpu-0', 'gpu-4', 'gpu-5']) {
      const hue = hueOf(await colorOf(p.page, id));
      assert.ok(Math.abs(hue - f1) < 3, `${id} has hue ${hue.toFixed(1)}, its fabric f1 has ${f1.toFixed(1)}`);
    }
    // Four distinct colours in f1, and f0 (empty now) holds no hue: a new fabric takes hue 0 again.
    const inF1 = await Promise.all(['gpu-0', 'gpu-1', 'gpu-4', 'gpu-5'].map((id) => colorOf(p.page, id)));
    assert.equal(new Set(inF1).size, 4, inF1.join(', '));
    const original = await played(t);
    const grown = computeShardMap([...moved.endpoints, { id: 'gpu-8', address: '10.0.0.1', port: 7008, locality: { region: 'r', zone: 'z0', subzone: 'f9' }, weight: 1, ready: true }], policy);
    p.setMap(grown);
    await p.tick();
    await eventually('the map with a new fabric', () => p.page.getAttribute('#grid', 'data-version'), { accept: (v) => v === grown.version, timeoutMs: 10_000, intervalMs: 20 });
    assert.equal(await colorOf(p.page, 'gpu-8'), await colorOf(original.page, 'gpu-0'), 'the hue f0 gave back');
    assert.deepEqual([...p.errors, ...original.errors], []);
  });

  test('a tab shown again polls at once, and once however often it is shown while the poll waits', async (t) => {
    const p = await played(t);
    const visible = `document.dispatchEvent(new Event('visibilitychange'))`;
    const before = p.count('/readyz');
    await p.page.evaluate(visible); // the page's clock does not move
    await eventually('a poll on being shown', () => p.count('/readyz'), { accept: (n) => n === before + 1, timeoutMs: 10_000, intervalMs: 20 });
    // A poll waiting for its answer: being shown five more times asks nothing more.
    p.modes['/readyz'] = 'hold';
    await p.tick();
    await eventually('the held poll', () => p.held.length, { accept: (n) => n === 1, timeoutMs: 10_000, intervalMs: 20 });
    const waiting = p.count('/readyz');
    for (let i = 0; i < 5; i++) await p.page.evaluate(visible);
    // A request after the events, as a marker: every request they started was made before it.
    await p.page.evaluate(`fetch('/healthz').then((r) => r.status)`);
    assert.equal(p.count('/readyz'), waiting);
    p.modes['/readyz'] = 'ok';
    await p.release();
    await p.tick();
    assert.equal(await p.badge(), 'ready');
    assert.deepEqual(p.errors, []);
  });

  test('keyway gone for 10 minutes: the page keeps asking once a second, and recovers without a reload or a burst', async (t) => {
    const p = await played(t);
    for (const path of Object.keys(p.modes)) p.modes[path] = 'refused';
    const start = p.seen.length;
    for (let i = 0; i < 60; i++) await p.tick(10_000);
    assert.equal(await p.badge(), 'disconnected');
    const down = p.seen.slice(start);
    assert.equal(down.filter((s) => s.path === '/v1/shardmap').length, 0, 'no map asked for while keyway is gone');
    for (const path of Object.keys(p.modes)) p.modes[path] = 'ok';
    const back = p.seen.length;
    for (let i = 0; i < 3; i++) await p.tick();
    await eventually('ready', p.badge, { accept: (s) => s === 'ready', timeoutMs: 10_000, intervalMs: 20 });
    const after = p.seen.slice(back);
    const n = (path: string) => after.filter((s) => s.path === path).length;
    assert.equal(n('/v1/shardmap'), 1, 'one conditional read of the map on return');
    assert.deepEqual(after.filter((s) => s.path === '/v1/shardmap').map((s) => s.ifNoneMatch), [`W/"${V1.version}"`]);
    assert.ok(n('/v1/changes') <= 1, `${n('/v1/changes')} reads of the recent moves`);
    assert.ok(n('/readyz') <= 4, `${n('/readyz')} polls of /readyz in three ticks`);
    assert.deepEqual(p.errors, []);
  });
});

describe('web view left open: 500 map versions', { skip: chromiumSkipReason() }, () => {
  let view: OpenWebView | undefined;
  let page: Page;
  const serving = new ServingState();
  let prev: ShardMap | undefined;

  /** A new version: the weights move, as a hot-shard policy's windows or a rollout move them. */
  const publish = (g: number): string => {
    const endpoints = nodes(40).map((e, i) => ({ ...e, weight: 1 + ((g + i) % 3) }));
    const map = computeShardMap(endpoints, { ...policy, shardCount: 1024 });
    serving.publish({ map, topology: { policy: map.policy, xds: DEFAULT_XDS_SETTINGS, endpoints: map.endpoints }, ...(prev ? { diff: diffShardMaps(prev, map) } : {}) });
    prev = map;
    return map.version;
  };

  before(async () => {
    publish(0);
    view = await openWebView(await buildAdminApp(serving));
    page = await view.context.newPage();
  });

  after(async () => {
    await view?.close();
  });

  test('the heap, the DOM and the listeners after 500 versions are where they were after 50', async (t) => {
    const errors: string[] = [];
    page.on('pageerror', (err) => errors.push(err.message));
    const maps: string[] = [];
    page.on('request', (r) => {
      if (new URL(r.url()).pathname === '/v1/shardmap') maps.push(r.url());
    });
    const cdp = await view!.context.newCDPSession(page);
    await cdp.send('Performance.enable');
    await page.clock.install();
    await page.goto(`${view!.origin}/`);
    const measure = async () => {
      await cdp.send('HeapProfiler.collectGarbage');
      const { metrics } = await cdp.send('Performance.getMetrics');
      const m = new Map(metrics.map((x) => [x.name, x.value]));
      return { heap: m.get('JSHeapUsedSize')!, nodes: m.get('Nodes')!, listeners: m.get('JSEventListeners')! };
    };
    // The least of three measures a poll apart: on a loaded machine one may land while a render is
    // under way (once 569 nodes more, a render's worth, never seen alone); a leak is in all three.
    const settled = async () => {
      const samples = [await measure()];
      for (let i = 0; i < 2; i++) {
        await page.clock.runFor(1000);
        samples.push(await measure());
      }
      return {
        heap: Math.min(...samples.map((x) => x.heap)),
        nodes: Math.min(...samples.map((x) => x.nodes)),
        listeners: Math.min(...samples.map((x) => x.listeners)),
      };
    };
    let at50: Awaited<ReturnType<typeof measure>> | undefined;
    for (let g = 1; g <= 500; g++) {
      const version = publish(g);
      await page.clock.runFor(1000);
      await eventually(`version ${g}`, () => page.getAttribute('#grid', 'data-version'), { accept: (v) => v === version, timeoutMs: 20_000, intervalMs: 10 });
      if (g === 50) at50 = await settled();
    }
    const at500 = await settled();
    t.diagnostic(`after 50 versions ${JSON.stringify(at50)}, after 500 ${JSON.stringify(at500)}`);
    assert.ok(at500.heap < at50!.heap * 1.5, `JS heap ${at50!.heap} bytes after 50 versions, ${at500.heap} after 500`);
    assert.ok(at500.nodes < at50!.nodes * 1.3, `${at50!.nodes} DOM nodes after 50 versions, ${at500.nodes} after 500`);
    assert.equal(at500.listeners, at50!.listeners);
    assert.ok(maps.length <= 501 + 20, `${maps.length} map reads for 500 versions`);
    assert.deepEqual(errors, []);
  });
});
