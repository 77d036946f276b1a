/**
 * The proxies table of the web view with a large fleet, in real headless Chromium: thousands of
 * xDS clients (proxyless gRPC pods, one ownership agent per cache node) were each drawn as a row,
 * the whole table rebuilt every 2 s. At 10000 rows that held the page's main thread for 0.3 to 2 s
 * each time (hover tips, scrolling and the shard map all stalled). The table now shows at most
 * MAX_PROXY_ROWS rows, those not in sync first, and says how many it leaves out; past that many
 * proxies it polls every 10 s, since keyway builds every row on the event loop that serves xDS.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Page, Route } from 'playwright-core';
import { buildAdminApp } from '../src/admin/index.js';
import { ServingState } from '../src/app/serving-state.js';
import { chromiumSkipReason, openWebView, type OpenWebView } from './support/chromium.js';
import { eventually } from '../test/support/eventually.js';

/** The cap in app.js. */
const MAX_PROXY_ROWS = 200;

const synced = { status: 'SYNCED', subscribed: { wildcard: true, names: [], count: 0 }, versionSent: 'v1', versionAcked: 'v1', resources: 1 };

/** `n` Envoy rows sorted by id (as keyway sends them); `nacked` of them reject their route update. */
function proxies(n: number, nacked: readonly number[]): unknown[] {
  return Array.from({ length: n }, (_, i) => ({
    id: `envoy-${String(i).padStart(5, '0')}`,
    cluster: 'gw',
    userAgent: 'envoy',
    userAgentVersion: '1.36',
    flavor: 'envoy',
    locality: { region: 'r', zone: 'z', subzone: 'f' },
    proxyClass: 'envoy|z|f',
    connectedSince: new Date().toISOString(),
    protocol: 'delta',
    service: 'ads',
    streams: [],
    types: {
      cluster: synced,
      endpoint: synced,
      listener: synced,
      route: nacked.includes(i) ? { ...synced, status: 'NACKED', versionAcked: 'v0', lastNack: { version: 'v1', message: 'bad route', at: new Date().toISOString() } } : synced,
    },
  }));
}

describe('web view: a fleet of 10000 proxies', { skip: chromiumSkipReason() }, () => {
  let view: OpenWebView | undefined;
  let rows: unknown[] = [];
  let asked = 0;

  before(async () => {
    view = await openWebView(await buildAdminApp(new ServingState()));
  });
  after(async () => {
    await view?.close();
  });

  async function openPage(): Promise<Page> {
    const page = await view!.context.newPage();
    await page.route(/\/v1\/proxies/, (route: Route) => (asked++, route.fulfill({ json: { proxies: rows } })));
    await page.goto(`${view!.origin}/`);
    return page;
  }

  test('shows a bounded table, the proxies out of sync first, and counts the rest', async () => {
    rows = proxies(10_000, [9_998, 42]);
    const page = await openPage();
    try {
      const note = page.locator('#proxies-more');
      await eventually('the table', () => note.textContent(), { accept: (t) => (t ?? '').includes('10000'), timeoutMs: 20_000, intervalMs: 100 });
      const ids = await page.$$eval('#proxies tbody tr', (trs) => trs.map((tr) => tr.getAttribute('data-proxy')));
      assert.equal(ids.length, MAX_PROXY_ROWS);
      assert.deepEqual(ids.slice(0, 2), ['envoy-00042', 'envoy-09998'], 'the NACKED proxies lead, in id order');
      assert.equal(ids[2], 'envoy-00000');
      assert.match((await note.textContent()) ?? '', new RegExp(`${MAX_PROXY_ROWS} of 10000 proxies`));
      assert.match((await note.textContent()) ?? '', /keyway status/);
      // A fleet under the cap is listed whole, with no note (the next poll comes 10 s after a large answer).
      rows = proxies(3, []);
      await eventually('the small table', () => page.locator('#proxies tbody tr').count(), { accept: (n) => n === 3, timeoutMs: 20_000, intervalMs: 100 });
      assert.equal(await note.count(), 0);
    } finally {
      await page.close();
    }
  });

  test('a fleet past the cap is polled every 10 s, not every 2 s', async () => {
    rows = proxies(5_000, []);
    const page = await openPage();
    try {
      await eventually('the table', () => page.locator('#proxies-more').count(), { accept: (n) => n === 1, timeoutMs: 20_000, intervalMs: 100 });
      const first = asked;
      await page.waitForTimeout(7_000);
      // Every 2 s would be 3 or 4 more in 7 s.
      assert.ok(asked - first <= 1, `${asked - first} polls of /v1/proxies in 7 s`);
    } finally {
      await page.close();
    }
  });
});
