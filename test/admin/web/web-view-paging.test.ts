/**
 * The web view's proxies table against a real keyway admin app that pages `/v1/proxies`, in
 * headless Chromium: it asks for the rows it shows (one page of MAX_PROXY_ROWS, then the rows out
 * of sync past it), never the whole fleet, and still shows those out of sync first.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Page } from 'playwright-core';
import { buildAdminApp } from '../../../src/admin/index.js';
import { ServingState } from '../../../src/app/serving-state.js';
import { chromiumSkipReason, openWebView, type OpenWebView } from '../../../e2e/support/chromium.js';
import { eventually } from '../../support/eventually.js';
import { Fleet, idOf } from '../proxy-fleet.js';

/** The cap in app.js. */
const MAX_PROXY_ROWS = 200;

describe('web view: a paged fleet of 1200 proxies', { skip: chromiumSkipReason() }, () => {
  const fleet = new Fleet();
  let view: OpenWebView | undefined;

  before(async () => {
    for (let i = 0; i < 1200; i++) fleet.connect(idOf(i), { nack: i === 42 || i === 1100 });
    view = await openWebView(await buildAdminApp(new ServingState(), { readers: [{ proxies: fleet.reader() }] }));
  });
  after(async () => {
    await view?.close();
  });

  test('asks for one page and the rows out of sync; shows those first, then the rest in id order', async () => {
    const page: Page = await view!.context.newPage();
    const answers: { url: string; rows: number; hasContinue: boolean }[] = [];
    page.on('response', (res) => {
      if (!res.url().includes('/v1/proxies')) return;
      void res.json().then(
        (body: { proxies: unknown[]; continue?: string }) => answers.push({ url: res.url(), rows: body.proxies.length, hasContinue: body.continue !== undefined }),
        () => {},
      );
    });
    try {
      await page.goto(`${view!.origin}/`);
      const note = page.locator('#proxies-more');
      await eventually('the table', () => note.textContent(), { accept: (t) => (t ?? '').includes('not in sync'), timeoutMs: 20_000, intervalMs: 100 });
      const ids = await page.$$eval('#proxies tbody tr', (trs) => trs.map((tr) => tr.getAttribute('data-proxy')));
      assert.equal(ids.length, MAX_PROXY_ROWS);
      assert.deepEqual(ids.slice(0, 3), [idOf(42), idOf(1100), idOf(0)], 'the NACKED proxies lead, then the others in id order');
      assert.equal(ids.at(-1), idOf(MAX_PROXY_ROWS - 2), 'two rows out of sync, then 198 of the first page (envoy-0042 not again)');
      assert.equal(new Set(ids).size, ids.length);
      assert.match((await note.textContent()) ?? '', new RegExp(`${MAX_PROXY_ROWS} of more than ${MAX_PROXY_ROWS} proxies shown, those not in sync first \\(2 not in sync\\)`));
      const paths = answers.slice(0, 2).map((a) => new URL(a.url).search);
      assert.deepEqual(paths, [`?names=0&limit=${MAX_PROXY_ROWS}`, `?names=0&outOfSync=true&limit=${MAX_PROXY_ROWS}`]);
      assert.deepEqual(
        answers.slice(0, 2).map((a) => [a.rows, a.hasContinue]),
        [
          [MAX_PROXY_ROWS, true],
          [2, false],
        ],
      );
      for (const a of answers) assert.ok(a.rows <= MAX_PROXY_ROWS, `${a.url}: ${a.rows} rows`);
    } finally {
      await page.close();
    }
  });
});
