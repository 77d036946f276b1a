/**
 * The web view as people use it, in real headless Chromium: axe-core finds no serious or critical
 * violation; the shard grid has a text alternative and is read shard by shard from the keyboard; at
 * 390 px wide and at a 200 % zoom nothing spills out of its panel or off the window; a keyway that
 * goes away is said so on the page, and the page recovers without a reload. The page and its assets
 * come from the real admin app (its CSP in force); the API answers are played by the test.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { BrowserContext, Page, Route } from 'playwright-core';
import { buildAdminApp } from '../src/admin/index.js';
import { ServingState } from '../src/app/serving-state.js';
import { chromiumSkipReason, openWebView, type OpenWebView } from './support/chromium.js';
import { eventually } from '../test/support/eventually.js';

// axe-core, evaluated in the page (through the DevTools protocol, so the page's CSP does not block it).
const AXE_SOURCE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

/** S shards, R = 1, round robin over `nodes` endpoints in four fabrics of two zones; shard 0 is hot (with the longest tip), shard 3 in transition. */
function mapOf(version: string, shards: number, nodes: number) {
  const endpoints = Array.from({ length: nodes }, (_, i) => ({
    id: `n${i}`,
    address: '10.0.0.1',
    port: 7000 + i,
    locality: { region: 'r', zone: `z${i % 2}`, subzone: `f${i % 4}` },
    weight: 1,
    ready: i !== 1,
    draining: false,
    shardsOwned: 0,
    shardsPrimary: 0,
  }));
  const list = Array.from({ length: shards }, (_, s) => ({ shard: s, owners: [`n${s % nodes}`] }));
  for (const { owners } of list) endpoints[Number(owners[0]!.slice(1))]!.shardsPrimary++;
  const now = new Date().toISOString();
  return {
    version,
    shardCount: shards,
    replicas: 1,
    spread: 'none',
    shards: list,
    endpoints,
    warnings: [],
    updatedAt: now,
    handoff: { transitions: [{ shard: 3, warming: 'n2', deadline: now }], drains: [] },
    hotShards: {
      shards: [{ shard: 0, load: 100, reason: 'spread', readers: 2, owners: ['n0', 'n4'], explanation: 'read by two owners: its load is 4.2x the mean shard load, over the hot threshold of 2x; the busiest node would be at 1.9x its weight share' }],
      moves: 1,
      deferred: 0,
      maxLoadRatio: 1.2,
      plainMaxLoadRatio: 2,
      window: now,
    },
    stale: false,
    sources: [],
  };
}

/** A proxy row with every sync state the table draws as a badge. */
const PROXIES = {
  proxies: [
    {
      id: 'envoy-sidecar-7f9c6d5b8-x2kqp.default.svc.cluster.local',
      flavor: 'envoy',
      locality: { region: 'r', zone: 'z0', subzone: 'f0' },
      types: {
        cluster: { status: 'SYNCED', versionSent: 'v1', versionAcked: 'v1' },
        endpoint: { status: 'NACKED', lastNack: { version: 'v1', message: 'rejected' } },
        listener: { status: 'STALE', versionSent: 'v1', versionAcked: 'v0' },
        route: { status: 'NOT_SENT' },
      },
      connectedSince: new Date().toISOString(),
    },
  ],
};

/** How the played keyway answers: serving, gone (connection refused), or asking for the admin token. */
type Mode = 'ok' | 'gone' | 'token';

interface AxeViolation {
  id: string;
  impact: string;
  nodes: string[];
}

/** axe-core's serious and critical violations on the page as it is now. */
async function seriousViolations(page: Page): Promise<AxeViolation[]> {
  if (!(await page.evaluate('typeof window.axe !== "undefined"'))) await page.evaluate(AXE_SOURCE);
  const all = (await page.evaluate(`axe.run(document, { resultTypes: ['violations'] }).then((r) => r.violations.map((v) => ({
    id: v.id, impact: v.impact, nodes: v.nodes.map((n) => n.target.join(' ') + ': ' + n.failureSummary),
  })))`)) as AxeViolation[];
  return all.filter((v) => v.impact === 'serious' || v.impact === 'critical');
}

/**
 * What spills: the page wider than the window, or an element outside its section's box while not
 * inside a scrolling box of that section (there the content scrolls, it is not cut off).
 */
const SPILLS = `(() => {
  const out = [];
  const W = document.documentElement.clientWidth;
  if (document.documentElement.scrollWidth > W) out.push('page ' + document.documentElement.scrollWidth + ' px wide in a ' + W + ' px window');
  const scrolls = (e) => { const s = getComputedStyle(e).overflowX; return s === 'auto' || s === 'scroll' || s === 'hidden'; };
  for (const section of document.querySelectorAll('section:not([hidden])')) {
    const box = section.getBoundingClientRect();
    for (const e of section.querySelectorAll('*')) {
      const r = e.getBoundingClientRect();
      if (r.width === 0 || e.closest('[hidden]') || e.id === 'tip') continue;
      let clipped = false;
      for (let a = e.parentElement; a && a !== section; a = a.parentElement) if (scrolls(a)) clipped = true;
      if (clipped) continue;
      if (r.right > box.right + 0.5 || r.left < box.left - 0.5) out.push(section.id + ' > ' + e.tagName.toLowerCase() + (e.className ? '.' + e.className : '') + ' ' + Math.round(r.left) + '..' + Math.round(r.right) + ' outside ' + Math.round(box.left) + '..' + Math.round(box.right));
    }
  }
  return out;
})()`;

/**
 * Text on the canvas is its only half-transparent ink (cells are opaque): any in the last 3 pixel
 * columns is a panel label running off the grid's right edge.
 */
const LABEL_INK_AT_EDGE = `(() => {
  const c = document.getElementById('grid');
  const d = c.getContext('2d').getImageData(c.width - 3, 0, 3, c.height).data;
  let n = 0;
  for (let i = 3; i < d.length; i += 4) if (d[i] > 0 && d[i] < 255) n++;
  return n;
})()`;

describe('web view: accessibility and usability', { skip: chromiumSkipReason() }, () => {
  let origin: string;
  let context: BrowserContext;
  let view: OpenWebView | undefined;
  let mode: Mode = 'ok';
  let map = mapOf('v1', 1024, 8);

  async function answer(route: Route): Promise<void> {
    const path = new URL(route.request().url()).pathname;
    if (mode === 'gone') return route.abort('connectionrefused');
    if (path === '/readyz') {
      return route.fulfill({ json: { ready: true, status: 'degraded', reasons: [{ code: 'proxy_nack', message: 'envoy-sidecar EDS: rejected' }], version: map.version, stale: false, sources: [] } });
    }
    if (mode === 'token') return route.fulfill({ status: 401, json: { error: { code: 'UNAUTHORIZED', message: 'admin token required' } } });
    if (path === '/v1/shardmap') return route.fulfill({ json: map });
    if (path === '/v1/changes') {
      return route.fulfill({ json: { changes: [{ at: new Date().toISOString(), fromVersion: 'v0', toVersion: map.version, movedShards: 128, primaries: [{ from: 'n1', to: 'n2', shards: 128 }] }] } });
    }
    if (path === '/v1/proxies') return route.fulfill({ json: PROXIES });
    return route.fulfill({ status: 404, json: { error: { code: 'NOT_FOUND', message: path } } });
  }

  const pageErrors: string[] = [];
  async function openPage(): Promise<Page> {
    const page = await context.newPage();
    page.on('pageerror', (err) => pageErrors.push(err.message));
    await page.route(/\/(readyz|v1\/.*)$/, answer);
    await page.goto(`${origin}/`);
    await eventually('the grid', () => page.getAttribute('#grid', 'data-version'), { accept: (v) => v === map.version, timeoutMs: 15_000, intervalMs: 100 });
    await eventually('the proxies', () => page.locator('#proxies tr[data-proxy]').count(), { accept: (n) => n === 1, timeoutMs: 15_000, intervalMs: 100 });
    return page;
  }

  before(async () => {
    view = await openWebView(await buildAdminApp(new ServingState()));
    ({ origin, context } = view);
  });

  after(async () => {
    await view?.close();
  });

  test('axe-core: no serious or critical violation, serving with every badge, disconnected, and asking for the token', async () => {
    mode = 'ok';
    map = mapOf('v1', 1024, 8);
    const page = await openPage();
    try {
      assert.deepEqual(await seriousViolations(page), [], 'serving');
      mode = 'gone';
      await eventually('disconnected', () => page.getAttribute('#status', 'data-state'), { accept: (s) => s === 'disconnected', timeoutMs: 10_000, intervalMs: 100 });
      assert.deepEqual(await seriousViolations(page), [], 'disconnected');
      mode = 'token';
      await eventually('the token form', () => page.isVisible('#token-form'), { accept: (v) => v, timeoutMs: 10_000, intervalMs: 100 });
      assert.deepEqual(await seriousViolations(page), [], 'asking for the token');
      assert.deepEqual(pageErrors, []);
    } finally {
      mode = 'ok';
      await page.close();
    }
  });

  test('the grid has a text alternative and is read shard by shard with the keyboard', async () => {
    mode = 'ok';
    map = mapOf('v1', 1024, 8);
    const page = await openPage();
    try {
      // The picture's panels, in words.
      const name = (await page.getAttribute('#grid', 'aria-label')) ?? '';
      assert.match(name, /1024 shards in 4 panels/);
      assert.match(name, /f0 · z0: primary for 256 shards \(25\.0%\), weight 28\.6%/);
      // Tab reaches the grid (nothing before it takes focus: the token form is hidden).
      await page.keyboard.press('Tab');
      assert.equal(await page.evaluate('document.activeElement.id'), 'grid');
      assert.notEqual(await page.evaluate('getComputedStyle(document.activeElement).outlineStyle'), 'none', 'focus is visible');
      const tip = () => page.locator('#tip').textContent();
      assert.equal(await page.getAttribute('#tip', 'aria-live'), 'polite', 'the tip is announced');
      assert.ok(await page.isVisible('#tip'));
      // Panel f0 holds shards 0, 4, 8, ... (n0 and n4), in order.
      assert.match((await tip()) ?? '', /^shard 0: primary n0 \(f0\); hot \(spread\)/);
      await page.keyboard.press('ArrowRight');
      assert.match((await tip()) ?? '', /^shard 4: primary n4 \(f0\)/);
      await page.keyboard.press('ArrowLeft');
      assert.match((await tip()) ?? '', /^shard 0:/);
      const cols = await page.evaluate(`Math.floor(document.getElementById('grid').width / Number(document.getElementById('grid').dataset.cellSize))`);
      await page.keyboard.press('ArrowDown');
      assert.match((await tip()) ?? '', new RegExp(`^shard ${4 * Number(cols)}:`));
      await page.keyboard.press('End');
      assert.match((await tip()) ?? '', /^shard 1023: primary n7 \(f3\)/);
      await page.keyboard.press('Home');
      assert.match((await tip()) ?? '', /^shard 0:/);
      // The keys move the cursor, not the page.
      assert.equal(await page.evaluate('window.scrollY'), 0);
      await page.keyboard.press('Tab');
      assert.equal(await page.isVisible('#tip'), false, 'the tip goes with the focus');
      assert.deepEqual(pageErrors, []);
    } finally {
      await page.close();
    }
  });

  for (const { name, width, height, scale } of [
    { name: 'a phone, 390 px wide', width: 390, height: 844, scale: 3 },
    { name: 'a 1280 px window at 200 % zoom', width: 640, height: 450, scale: 2 },
  ]) {
    test(`${name}: nothing spills out of its panel or off the window, labels wrap, the tip stays in view`, async () => {
      mode = 'ok';
      map = mapOf('v1', 1024, 8);
      const page = await openPage();
      try {
        // Zoom as the browser does it: fewer CSS pixels, more device pixels per CSS pixel.
        const cdp = await context.newCDPSession(page);
        await cdp.send('Emulation.setDeviceMetricsOverride', { width, height, deviceScaleFactor: scale, mobile: false });
        await eventually('redrawn at the new width', () => page.evaluate(`document.getElementById('grid').width`), {
          accept: (w) => Number(w) <= width * scale,
          timeoutMs: 5_000,
          intervalMs: 100,
        });
        assert.deepEqual(await page.evaluate(SPILLS), []);
        assert.equal(await page.evaluate(LABEL_INK_AT_EDGE), 0, 'a panel label runs off the grid');
        // A table too wide for the window scrolls in its panel; its explanation is not squeezed to a word a line.
        const why = (await page.locator('#hot-shards td.why').boundingBox())!;
        assert.ok(why.width >= 150, `the explanation is ${why.width} px wide`);
        // The hot shard's tip, the longest one, stays inside the window: hovered, and from the keyboard.
        const grid = (await page.locator('#grid').boundingBox())!;
        for (let y = 0; y < 100 && !/^shard 0:/.test((await page.locator('#tip').textContent()) ?? ''); y += 2) await page.mouse.move(grid.x + 1, grid.y + y);
        const inWindow = async (how: string) => {
          assert.match((await page.locator('#tip').textContent()) ?? '', /^shard 0: .*hot/, how);
          const tip = (await page.locator('#tip').boundingBox())!;
          assert.ok(tip.x >= 0 && tip.x + tip.width <= width, `${how}: tip ${tip.x}..${tip.x + tip.width} in a ${width} px window`);
        };
        await inWindow('hovered');
        await page.mouse.move(0, 0);
        await page.locator('#grid').focus();
        await inWindow('focused');
        // The admin token form, when keyway asks for one: the field and its button fit.
        mode = 'token';
        await eventually('the token form', () => page.isVisible('#token-form'), { accept: (v) => v, timeoutMs: 10_000, intervalMs: 100 });
        assert.deepEqual(await page.evaluate(SPILLS), []);
        for (const control of ['#token', '#token-form button']) {
          const box = (await page.locator(control).boundingBox())!;
          assert.ok(box.x >= 0 && box.x + box.width <= width, `${control} at ${box.x}..${box.x + box.width} in a ${width} px window`);
        }
        await cdp.detach();
        assert.deepEqual(pageErrors, []);
      } finally {
        mode = 'ok';
        await page.close();
      }
    });
  }

  test('keyway goes away and comes back: the page says so, and why, and recovers without a reload', async () => {
    mode = 'ok';
    map = mapOf('v1', 1024, 8);
    const page = await openPage();
    try {
      const status = page.getByRole('status').first();
      assert.equal(await status.getAttribute('id'), 'status', 'the badge is a live status');
      mode = 'gone';
      await eventually('disconnected', () => status.textContent(), { accept: (s) => s === 'disconnected', timeoutMs: 10_000, intervalMs: 100 });
      // Said on the page, not only in a tooltip that a keyboard or touch user never sees.
      const why = page.locator('#reasons li[data-code="DISCONNECTED"]');
      assert.ok(await why.isVisible());
      assert.match((await why.textContent()) ?? '', /No answer from keyway \(GET \/readyz: .+\)/);
      map = mapOf('v2', 1024, 7);
      mode = 'ok';
      await eventually('the new map', () => page.getAttribute('#grid', 'data-version'), { accept: (v) => v === 'v2', timeoutMs: 10_000, intervalMs: 100 });
      assert.equal(await status.textContent(), 'degraded');
      assert.equal(await why.count(), 0);
      assert.deepEqual(pageErrors, []);
    } finally {
      await page.close();
    }
  });

  test('a new map version is announced through a polite live region, once; polls that change nothing announce nothing', async () => {
    mode = 'ok';
    map = mapOf('v1', 1024, 8);
    const page = await openPage();
    let polls = 0;
    page.on('request', (r) => void (new URL(r.url()).pathname === '/readyz' && polls++));
    const afterPolls = async (n: number) => {
      const from = polls;
      await eventually(`${n} polls`, () => polls, { accept: (k) => k >= from + n, timeoutMs: 15_000, intervalMs: 100 });
    };
    try {
      const live = page.locator('#summary [aria-live="polite"]');
      assert.equal(await live.count(), 1, 'one live region in the header');
      assert.equal(await live.getAttribute('aria-atomic'), 'true', 'read whole: "version" and the version');
      assert.match((await live.textContent()) ?? '', /^version\s*v1$/);
      // Watch the region itself: what changes in it is what a screen reader reads out.
      await page.evaluate(`(() => {
        const el = document.querySelector('#summary [aria-live="polite"]');
        window.kwLive = { el, mutations: 0 };
        new MutationObserver((m) => { window.kwLive.mutations += m.length; }).observe(el, { subtree: true, childList: true, characterData: true, attributes: true });
      })()`);
      await afterPolls(3);
      assert.equal(await page.evaluate('window.kwLive.mutations'), 0, 'polls that changed nothing touched the live region');
      map = mapOf('v2', 1024, 7);
      await eventually('the new map', () => page.getAttribute('#grid', 'data-version'), { accept: (v) => v === 'v2', timeoutMs: 10_000, intervalMs: 100 });
      // The same element (a region created anew with its text is not read out), now saying v2.
      assert.equal(await page.evaluate('window.kwLive.el.isConnected'), true);
      assert.match(String(await page.evaluate('window.kwLive.el.textContent')), /^version\s*v2$/);
      const changed = Number(await page.evaluate('window.kwLive.mutations'));
      assert.ok(changed > 0);
      await afterPolls(3);
      assert.equal(await page.evaluate('window.kwLive.mutations'), changed, 'announced once, not again on each poll');
      assert.deepEqual(await seriousViolations(page), []);
      assert.deepEqual(pageErrors, []);
    } finally {
      await page.close();
    }
  });

  // Functional only: how long the page takes is for a benchmark, not a test on shared cores.
  test('16384 shards over 500 single-node fabrics: every cell drawn, the grid read with the mouse and the keyboard', async () => {
    mode = 'ok';
    map = mapOf('v-big', 16384, 500);
    map.endpoints.forEach((e, i) => (e.locality.subzone = `f${i}`));
    const page = await context.newPage();
    try {
      page.on('pageerror', (err) => pageErrors.push(err.message));
      await page.route(/\/(readyz|v1\/.*)$/, answer);
      await page.goto(`${origin}/`);
      await eventually('the grid', () => page.getAttribute('#grid', 'data-version'), { accept: (v) => v === 'v-big', timeoutMs: 20_000, intervalMs: 100 });
      assert.equal(await page.getAttribute('#grid', 'data-cells'), '16384');
      const grid = (await page.locator('#grid').boundingBox())!;
      for (let i = 0; i < 100; i++) await page.mouse.move(grid.x + ((i * 37) % grid.width), grid.y + 30 + i * 5);
      await page.locator('#grid').focus();
      for (let i = 0; i < 50; i++) await page.keyboard.press(i % 2 === 0 ? 'ArrowDown' : 'ArrowRight');
      await page.keyboard.press('End');
      assert.match((await page.locator('#tip').textContent()) ?? '', /^shard \d+: primary n\d+/);
      assert.deepEqual(pageErrors, []);
    } finally {
      await page.close();
    }
  });
});
