/**
 * The web view behind a path prefix (docs/api.md "Web view"), in headless Chromium: `kubectl proxy`
 * serves a Service at `/api/v1/namespaces/<ns>/services/<name>:<port>/proxy/`, and an ingress may
 * route `/keyway/` to keyway. The page's files and API calls are relative to it, so they reach
 * keyway through the prefix; with absolute paths they went to the proxy's root and the page
 * stayed empty.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { buildAdminApp } from '../../../src/admin/index.js';
import { ServingState } from '../../../src/app/serving-state.js';
import { DEFAULT_XDS_SETTINGS } from '../../../src/core/settings.js';
import { computeShardMap } from '../../../src/sharding/index.js';
import { chromiumSkipReason, openWebView, type OpenWebView } from '../../../e2e/support/chromium.js';
import { eventually } from '../../support/eventually.js';

const PREFIX = '/api/v1/namespaces/keyway-system/services/keyway:8080/proxy';

/** A reverse proxy that serves keyway at `origin` under PREFIX only (404 elsewhere), as `kubectl proxy` does; the paths it was asked for. */
async function prefixProxy(origin: string): Promise<{ url: string; asked: string[]; close(): Promise<void> }> {
  const asked: string[] = [];
  const server = http.createServer((req, res) => {
    const url = req.url ?? '/';
    asked.push(url);
    if (!url.startsWith(`${PREFIX}/`)) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('404 page not found');
      return;
    }
    const upstream = http.request(`${origin}${url.slice(PREFIX.length)}`, { method: req.method, headers: { ...req.headers, host: new URL(origin).host } }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    });
    upstream.on('error', () => res.writeHead(502).end());
    req.pipe(upstream);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}${PREFIX}/`,
    asked,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

describe('web view behind a path prefix', { skip: chromiumSkipReason() }, () => {
  let view: OpenWebView | undefined;
  let proxy: Awaited<ReturnType<typeof prefixProxy>> | undefined;
  const state = new ServingState();

  before(async () => {
    const policy = { shardCount: 64, replicas: 2, spread: 'none' } as const;
    const endpoints = ['gpu-a', 'gpu-b', 'gpu-c'].map((id, i) => ({ id, address: `10.0.0.${i + 1}`, port: 7000, locality: { region: 'r', zone: 'z', subzone: 'f' }, weight: 1, ready: true }));
    const map = computeShardMap(endpoints, policy);
    state.publish({ map, topology: { policy, xds: DEFAULT_XDS_SETTINGS, endpoints: map.endpoints } });
    view = await openWebView(await buildAdminApp(state));
    proxy = await prefixProxy(view.origin);
  });
  after(async () => {
    await proxy?.close();
    await view?.close();
  });

  test("draws the map, polls and links the API through the prefix, never the proxy's root", async (t) => {
    const page = await view!.context.newPage();
    t.after(() => page.close());
    const errors: string[] = [];
    page.on('pageerror', (err) => errors.push(err.message));
    await page.goto(proxy!.url);
    await eventually('the grid', () => page.getAttribute('#grid', 'data-cells'), { accept: (n) => n === '64', timeoutMs: 20_000, intervalMs: 100 });
    await eventually('the proxies table', () => page.textContent('#proxies'), { accept: (s) => !(s ?? '').includes('loading'), timeoutMs: 20_000, intervalMs: 100 });
    assert.equal(await page.getAttribute('#status', 'data-state'), 'ready');
    const outside = proxy!.asked.filter((p) => !p.startsWith(`${PREFIX}/`));
    assert.deepEqual(outside, [], 'no request outside the prefix');
    for (const path of ['/web/app.js', '/web/style.css', '/readyz', '/v1/shardmap', '/v1/changes?moves=0']) {
      assert.ok(proxy!.asked.includes(`${PREFIX}${path}`), `${path} asked through the prefix: ${JSON.stringify(proxy!.asked)}`);
    }
    assert.equal(await page.getAttribute('footer a', 'href'), 'openapi.json');
    assert.deepEqual(errors, []);
  });
});
