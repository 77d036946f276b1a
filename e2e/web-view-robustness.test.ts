/**
 * The web view against a keyway that misbehaves or is very large, in real headless Chromium: the
 * page and its assets come from the real admin app (its CSP in force), the API answers are played
 * by the test (page.route), so a stall, a foreign 502 page and a map of thousands of fabrics are
 * exact and cheap.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import type { FastifyInstance } from 'fastify';
import type { BrowserContext, Page, Route } from 'playwright-core';
import { buildAdminApp } from '../src/admin/index.js';
import { ServingState } from '../src/app/serving-state.js';
import { chromiumSkipReason, launch } from './support/chromium.js';
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
  let app: FastifyInstance;
  let origin: string;
  let context: BrowserContext;
  let profile: string;
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
    app = await buildAdminApp(new ServingState());
    origin = await app.listen({ host: '127.0.0.1', port: 0 });
    ({ context, profile } = await launch());
  });

  after(async () => {
    await context?.close();
    await app?.close();
    if (profile) rmSync(profile, { recursive: true, force: true });
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
});
