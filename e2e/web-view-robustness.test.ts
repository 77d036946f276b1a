/**
 * The web view against a keyway that misbehaves or is very large, in real headless Chromium: the
 * page and its assets come from the real admin app (its CSP in force), the API answers are played
 * by the test (page.route), so a stall, a foreign 502 page and a map of thousands of fabrics are
 * exact and cheap. The map of 131072 shards is served by the real routes, to count what the page
 * downloads.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { BrowserContext, Page, Route } from 'playwright-core';
import { buildAdminApp } from '../src/admin/index.js';
import { ServingState } from '../src/app/serving-state.js';
import type { ServingReader } from '../src/core/serving.js';
import type { ShardMap } from '../src/core/shard-map.js';
import { DEFAULT_XDS_SETTINGS } from '../src/core/settings.js';
import { computeShardMap, diffShardMaps } from '../src/sharding/index.js';
import { chromiumSkipReason, openWebView, type OpenWebView } from './support/chromium.js';
import { eventually } from '../test/support/eventually.js';

interface FakeMap {
  version: string;
  shardCount: number;
  endpoints: { id: string; locality: { region: string; zone: string; subzone: string }; shardsPrimary: number }[];
  [k: string]: unknown;
}

/** S shards, R = 1, over `nodes` endpoints each in its own fabric, spread over `zones` zones. */
function mapOf(version: string, shards: number, nodes: number, zones: number): FakeMap {
  const endpoints = Array.from({ length: nodes }, (_, i) => ({
    id: `n${i}`,
    address: '10.0.0.1',
    port: 7000,
    locality: { region: 'r', zone: `z${i % zones}`, subzone: `f${i}` },
    weight: 1,
    ready: true,
    draining: false,
    shardsOwned: 0,
    shardsPrimary: 0,
  }));
  const list = Array.from({ length: shards }, (_, s) => ({ shard: s, owners: [`n${s % nodes}`] }));
  for (const { owners } of list) endpoints[Number(owners[0]!.slice(1))]!.shardsPrimary++;
  return {
    version,
    shardCount: shards,
    replicas: 1,
    spread: 'none',
    shards: list,
    endpoints,
    warnings: [],
    updatedAt: new Date().toISOString(),
    handoff: { transitions: [], drains: [] },
    hotShards: { shards: [], moves: 0, deferred: 0 },
    stale: false,
    sources: [],
  };
}

/** How the played keyway answers `/readyz` and `/v1/...`. */
type Mode = 'ok' | 'stall' | 'bad-gateway';

/** Opaque pixels in the legend's colours, per colour (in-page source: see e2e/web-view.test.ts). */
const CELL_PIXELS = `(() => {
  const canvas = document.getElementById('grid');
  const colors = new Set([...document.querySelectorAll('#legend [data-endpoint]')].map((e) => e.dataset.color));
  const d = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
  const hex = (n) => n.toString(16).padStart(2, '0');
  let n = 0;
  for (let i = 0; i < d.length; i += 4) {
    if (d[i + 3] === 255 && colors.has('#' + hex(d[i]) + hex(d[i + 1]) + hex(d[i + 2]))) n++;
  }
  return { n, data: { ...canvas.dataset }, height: canvas.height };
})()`;

describe('web view: a stalled or foreign answer, and thousands of fabrics', { skip: chromiumSkipReason() }, () => {
  let origin: string;
  let context: BrowserContext;
  let view: OpenWebView | undefined;
  const pageErrors: string[] = [];
  let mode: Mode = 'ok';
  let map = mapOf('v-small', 1024, 8, 2);

  async function answer(route: Route): Promise<void> {
    const path = new URL(route.request().url()).pathname;
    if (mode === 'stall') return; // accepted, never answered
    if (mode === 'bad-gateway') return route.fulfill({ status: 502, contentType: 'text/html', body: '<html><body>502 Bad Gateway</body></html>' });
    if (path === '/readyz') return route.fulfill({ json: { ready: true, status: 'ready', version: map.version, stale: false, sources: [] } });
    if (path === '/v1/shardmap') return route.fulfill({ json: map });
    if (path === '/v1/changes') return route.fulfill({ json: { changes: [] } });
    if (path === '/v1/proxies') return route.fulfill({ json: { proxies: [] } });
    return route.fulfill({ status: 404, json: { error: { code: 'NOT_FOUND', message: path } } });
  }

  async function openPage(): Promise<Page> {
    const page = await context.newPage();
    page.on('pageerror', (err) => pageErrors.push(err.message));
    await page.route(/\/(readyz|v1\/.*)$/, answer);
    await page.goto(`${origin}/`);
    return page;
  }

  const badge = (page: Page) => page.getAttribute('#status', 'data-state');

  before(async () => {
    view = await openWebView(await buildAdminApp(new ServingState()));
    ({ origin, context } = view);
  });

  after(async () => {
    await view?.close();
  });

  test('a keyway that stops answering, or a 502 page in its place, shows as disconnected, with why', async () => {
    mode = 'ok';
    map = mapOf('v-small', 1024, 8, 2);
    const page = await openPage();
    try {
      await eventually('ready', () => badge(page), { accept: (s) => s === 'ready', timeoutMs: 10_000, intervalMs: 100 });
      mode = 'stall';
      // One poll a second, each given 5 s: disconnected well within 10 s.
      await eventually('disconnected while keyway stalls', () => badge(page), { accept: (s) => s === 'disconnected', timeoutMs: 10_000, intervalMs: 100 });
      assert.match((await page.getAttribute('#status', 'title')) ?? '', /GET \/readyz: no answer within 5 s/);
      mode = 'bad-gateway';
      await eventually('why: a 502', () => page.getAttribute('#status', 'title'), { accept: (t) => /HTTP 502/.test(t ?? ''), timeoutMs: 10_000, intervalMs: 100 });
      assert.equal(await badge(page), 'disconnected');
      mode = 'ok';
      await eventually('ready again', () => badge(page), { accept: (s) => s === 'ready', timeoutMs: 10_000, intervalMs: 100 });
      assert.deepEqual(pageErrors, []);
    } finally {
      await page.close();
    }
  });

  test('3000 single-node fabrics: every cell is drawn, in one panel per zone', async () => {
    mode = 'ok';
    map = mapOf('v-wide', 16384, 3000, 3);
    const page = await openPage();
    try {
      await eventually('the grid', () => page.getAttribute('#grid', 'data-version'), { accept: (v) => v === map.version, timeoutMs: 20_000, intervalMs: 100 });
      const { n, data, height } = (await page.evaluate(CELL_PIXELS)) as { n: number; data: Record<string, string>; height: number };
      // One panel per fabric would be ~100000 px tall: a canvas that size draws nothing.
      assert.ok(height <= 32000, `canvas height ${height}`);
      assert.equal(data.grouping, 'zone');
      assert.equal(data.panels, '3');
      const side = Number(data.cellSize) - Number(data.cellGap);
      assert.equal(n, 16384 * side * side, 'every shard has its filled cell');
      assert.deepEqual(pageErrors, []);
    } finally {
      await page.close();
    }
  });

  test('a few fabrics keep one panel per fabric', async () => {
    mode = 'ok';
    map = mapOf('v-few', 1024, 8, 2);
    const page = await openPage();
    try {
      await eventually('the grid', () => page.getAttribute('#grid', 'data-version'), { accept: (v) => v === map.version, timeoutMs: 20_000, intervalMs: 100 });
      assert.equal(await page.getAttribute('#grid', 'data-grouping'), 'fabric');
      assert.equal(await page.getAttribute('#grid', 'data-panels'), '8');
      assert.deepEqual(pageErrors, []);
    } finally {
      await page.close();
    }
  });

  test('131072 shards: a change costs the map and a few KB of moves, an idle refresh a 304, and a restart shows its own moves', async (t) => {
    const policy = { shardCount: 131072, replicas: 1, spread: 'none' as const };
    const nodes = Array.from({ length: 8 }, (_, i) => ({ id: `n${i}`, address: '10.0.0.1', port: 7000 + i, locality: { region: 'r', zone: `z${i % 2}`, subzone: `f${i % 4}` }, weight: 1, ready: true }));
    const all = computeShardMap(nodes, policy);
    const without = (k: number) => computeShardMap(nodes.filter((_, i) => i !== k), policy);
    const publish = (to: ServingState, map: ShardMap, from?: ShardMap) =>
      to.publish({ map, topology: { policy, xds: DEFAULT_XDS_SETTINGS, endpoints: map.endpoints }, ...(from ? { diff: diffShardMaps(from, map) } : {}) });
    // History: n0 and n1 left and came back, four changes of 1/8 of the shards (1.4 MB of moves listed each).
    let serving = new ServingState();
    publish(serving, all);
    const [w0, w1, w2] = [without(0), without(1), without(2)];
    publish(serving, w0, all);
    publish(serving, all, w0);
    publish(serving, w1, all);
    publish(serving, all, w1);
    // A "restart" swaps the state the routes read.
    const reader: ServingReader = {
      current: () => serving.current(),
      history: () => serving.history(),
      onShardMap: (l) => serving.onShardMap(l),
      onSourceError: (l) => serving.onSourceError(l),
      sources: () => serving.sources(),
      pipelineError: () => serving.pipelineError(),
    };
    const big = await buildAdminApp(reader);
    t.after(() => big.close());
    const sent: { url: string; status: number; bytes: number }[] = [];
    big.addHook('onSend', async (request, reply, payload) => {
      const bytes = Buffer.isBuffer(payload) ? payload.length : typeof payload === 'string' ? Buffer.byteLength(payload) : 0;
      sent.push({ url: request.url, status: reply.statusCode, bytes });
      return payload;
    });
    const bigOrigin = await big.listen({ host: '127.0.0.1', port: 0 });
    const of = (path: string) => sent.filter((s) => s.url.split('?')[0] === path);
    const total = (path: string) => of(path).reduce((n, s) => n + s.bytes, 0);

    const page = await context.newPage();
    page.on('pageerror', (err) => pageErrors.push(err.message));
    await page.clock.install(); // to jump past the 30 s refresh
    try {
      await page.goto(`${bigOrigin}/`);
      await eventually('the grid', () => page.getAttribute('#grid', 'data-version'), { accept: (v) => v === all.version, timeoutMs: 60_000, intervalMs: 200 });
      await eventually('the history', () => page.locator('#changes li[data-to-version]').count(), { accept: (n) => n === 4, timeoutMs: 20_000, intervalMs: 200 });

      // One change (n2 leaves): the new map once, and the moves as counts.
      sent.length = 0;
      publish(serving, w2, all);
      const li = `#changes li[data-to-version="${w2.version}"]`;
      await page.waitForSelector(li, { timeout: 60_000 });
      const moves = serving.history()[0]!.moves;
      const pairs = new Map<string, number>();
      for (const m of moves) if (m.from[0] !== m.to[0]) pairs.set(`${m.from[0]} → ${m.to[0]}`, (pairs.get(`${m.from[0]} → ${m.to[0]}`) ?? 0) + 1);
      const top = [...pairs].sort((a, b) => b[1] - a[1]).slice(0, 3);
      assert.match((await page.textContent(li)) ?? '', new RegExp(`${moves.length} shards moved; primaries ${top.map(([k, n]) => `${k} \\(${n}\\)`).join(', ')}`));
      t.diagnostic(`one change at S = 131072: /v1/shardmap ${total('/v1/shardmap')} bytes, /v1/changes ${total('/v1/changes')} bytes`);
      assert.deepEqual(of('/v1/shardmap').map((s) => s.status), [200]);
      assert.ok(total('/v1/changes') < 64 * 1024, `${total('/v1/changes')} bytes of /v1/changes for one change`);
      // The proxy table shows statuses, not subscribed names, one page of them (this app has no proxy stage: 404s).
      await eventually('a proxies poll', () => of('/v1/proxies').length, { accept: (n) => n > 0, timeoutMs: 10_000, intervalMs: 100 });
      assert.deepEqual([...new Set(of('/v1/proxies').map((s) => s.url))], ['/v1/proxies?names=0&limit=200']);

      // Idle: 30 s on, the page asks for the map with its ETag and gets a 304.
      sent.length = 0;
      await page.clock.fastForward(31_000);
      await eventually('the periodic refresh', () => of('/v1/shardmap').length, { accept: (n) => n > 0, timeoutMs: 20_000, intervalMs: 100 });
      assert.deepEqual(of('/v1/shardmap').map((s) => [s.status, s.bytes]), [[304, 0]]);

      // keyway restarts with the same map and no history: the moves of the previous process go.
      serving = new ServingState();
      publish(serving, w2);
      await page.clock.fastForward(31_000);
      await page.waitForSelector('#changes li.empty', { timeout: 20_000 });
      assert.equal(await page.getAttribute('#grid', 'data-version'), w2.version);
      assert.deepEqual(pageErrors, []);
    } finally {
      await page.close();
    }
  });
});
