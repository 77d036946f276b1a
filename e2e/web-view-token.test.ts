/**
 * The web view against a keyway with an admin token, in real headless Chromium: a token that
 * cannot go in an HTTP header is refused by the form instead of breaking every request; a token
 * keyway refuses (rotated since the tab stored it) is dropped, not sent on every poll.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { BrowserContext } from 'playwright-core';
import { buildAdminApp } from '../src/admin/index.js';
import { ServingState } from '../src/app/serving-state.js';
import { computeShardMap } from '../src/sharding/index.js';
import { DEFAULT_XDS_SETTINGS } from '../src/core/settings.js';
import type { ShardingPolicy } from '../src/core/policy.js';
import { chromiumSkipReason, openWebView, type OpenWebView } from './support/chromium.js';
import { eventually } from '../test/support/eventually.js';

const TOKEN = 'web-view-token-1';

describe('web view with the admin token', { skip: chromiumSkipReason() }, () => {
  let origin: string;
  let context: BrowserContext;
  let view: OpenWebView | undefined;

  before(async () => {
    const policy: ShardingPolicy = { shardCount: 1024, replicas: 2, spread: 'zone' };
    const endpoints = Array.from({ length: 8 }, (_, i) => ({ id: `n${i}`, address: '10.0.0.1', port: 7000, locality: { region: 'r', zone: `z${i % 2}`, subzone: `f${i % 4}` }, weight: 1, ready: true }));
    const map = computeShardMap(endpoints, policy);
    const state = new ServingState();
    state.publish({ map, topology: { policy, xds: DEFAULT_XDS_SETTINGS, endpoints: map.endpoints } });
    view = await openWebView(await buildAdminApp(state, { token: TOKEN }));
    ({ origin, context } = view);
  });

  after(async () => {
    await view?.close();
  });

  test('a pasted token with a typographic quote is refused with why; the page stays connected and takes the right one', async () => {
    const page = await context.newPage();
    const errors: string[] = [];
    page.on('pageerror', (err) => errors.push(err.message));
    const urls: string[] = [];
    page.on('request', (r) => urls.push(r.url()));
    try {
      await page.goto(`${origin}/`);
      await page.locator('#token-form').waitFor({ state: 'visible', timeout: 15_000 });
      await page.fill('#token', `“${TOKEN}”`);
      await page.click('#token-form button');
      assert.match((await page.textContent('#token-message')) ?? '', /visible ASCII characters only; this one has "“"/);
      assert.equal(await page.evaluate(`document.getElementById('token-form').hidden`), false);
      assert.equal(await page.evaluate(`sessionStorage.getItem('keyway.adminToken')`), null);
      // Two polls later keyway still reads as reachable: no request carried the bad header.
      await new Promise((r) => setTimeout(r, 2_500));
      assert.notEqual(await page.getAttribute('#status', 'data-state'), 'disconnected');

      await page.fill('#token', TOKEN);
      await page.click('#token-form button');
      await eventually('the map, with the token', () => page.getAttribute('#grid', 'data-cells'), { accept: (n) => n === '1024', timeoutMs: 15_000, intervalMs: 100 });
      assert.equal(await page.getAttribute('#status', 'data-state'), 'ready');
      assert.ok(urls.every((u) => !u.includes(TOKEN)), 'the token is never in a URL');
      assert.deepEqual(errors, []);
    } finally {
      await page.close();
    }
  });

  test('a stored token keyway refuses (rotated since) is dropped at its first refusal; the page asks for the new one', async () => {
    const page = await context.newPage();
    const errors: string[] = [];
    page.on('pageerror', (err) => errors.push(err.message));
    const sent: { path: string; auth: string | undefined }[] = [];
    page.on('request', (r) => sent.push({ path: new URL(r.url()).pathname, auth: r.headers()['authorization'] }));
    // The tab kept the token of a keyway since restarted with a new one.
    await page.addInitScript(`try { sessionStorage.setItem('keyway.adminToken', 'rotated-away'); } catch {}`);
    try {
      await page.goto(`${origin}/`);
      await page.locator('#token-form').waitFor({ state: 'visible', timeout: 15_000 });
      assert.match((await page.textContent('#token-message')) ?? '', /refused/);
      assert.equal(await page.evaluate(`sessionStorage.getItem('keyway.adminToken')`), null);
      const shown = sent.length;
      const polls = () => sent.filter((s) => s.path === '/readyz').length;
      const from = polls();
      await eventually('three more polls', polls, { accept: (n) => n >= from + 3, timeoutMs: 15_000, intervalMs: 100 });
      assert.deepEqual(sent.slice(shown).filter((s) => s.auth !== undefined), [], 'the refused token is not sent again');
      await page.fill('#token', TOKEN);
      await page.click('#token-form button');
      await eventually('the map, with the new token', () => page.getAttribute('#grid', 'data-cells'), { accept: (n) => n === '1024', timeoutMs: 15_000, intervalMs: 100 });
      assert.equal(await page.getAttribute('#status', 'data-state'), 'ready');
      assert.deepEqual(errors, []);
    } finally {
      await page.close();
    }
  });

  test('with sessionStorage off (site data blocked), a typed token is still sent and the map read', async () => {
    const page = await context.newPage();
    const errors: string[] = [];
    page.on('pageerror', (err) => errors.push(err.message));
    // What Chromium does for a page whose site data is blocked: reading sessionStorage throws.
    await page.addInitScript(`Object.defineProperty(window, 'sessionStorage', { configurable: true, get() { throw new DOMException("Failed to read the 'sessionStorage' property from 'Window': Access is denied for this document.", 'SecurityError'); } });`);
    try {
      await page.goto(`${origin}/`);
      await page.locator('#token-form').waitFor({ state: 'visible', timeout: 15_000 });
      // A wrong token first: sent, refused, dropped, and asked for again as refused.
      await page.fill('#token', 'not-the-token');
      await page.click('#token-form button');
      await page.locator('#token-form').waitFor({ state: 'visible', timeout: 15_000 });
      assert.match((await page.textContent('#token-message')) ?? '', /refused/);
      const sent: (string | undefined)[] = [];
      page.on('request', (r) => void (new URL(r.url()).pathname.startsWith('/v1/') && sent.push(r.headers()['authorization'])));
      await page.fill('#token', TOKEN);
      await page.click('#token-form button');
      await eventually('the map, with the token', () => page.getAttribute('#grid', 'data-cells'), { accept: (n) => n === '1024', timeoutMs: 15_000, intervalMs: 100 });
      assert.equal(await page.isVisible('#token-form'), false);
      assert.deepEqual([...new Set(sent)], [`Bearer ${TOKEN}`], 'the refused token is not sent again; the new one is');
      assert.equal(await page.getAttribute('#status', 'data-state'), 'ready');
      assert.deepEqual(errors, []);
    } finally {
      await page.close();
    }
  });
});
