/**
 * The web view's admin token belongs to the keyway that asked for it (docs/api.md "Web view"):
 * two keyways behind one origin at two path prefixes (two namespaces through one `kubectl proxy`,
 * two ingress paths) share the tab's sessionStorage, and the token typed for one was sent to the
 * other, which refused it, so its page said the token was refused before any was typed there.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { buildAdminApp } from '../../../src/admin/index.js';
import { ServingState } from '../../../src/app/serving-state.js';
import { DEFAULT_XDS_SETTINGS } from '../../../src/core/settings.js';
import { computeShardMap } from '../../../src/sharding/index.js';
import { chromiumSkipReason, launch, type HeadlessBrowser } from '../../../e2e/support/chromium.js';
import { eventually } from '../../support/eventually.js';

const STAGING = '/api/v1/namespaces/staging/services/keyway:8080/proxy';
const PROD = '/api/v1/namespaces/prod/services/keyway:8080/proxy';

/** One keyway admin app on 127.0.0.1 with `token`; its origin. */
async function keyway(token: string): Promise<{ origin: string; close(): Promise<void> }> {
  const policy = { shardCount: 16, replicas: 1, spread: 'none' } as const;
  const endpoints = [{ id: 'gpu-a', address: '10.0.0.1', port: 7000, locality: { region: 'r', zone: 'z', subzone: 'f' }, weight: 1, ready: true }];
  const map = computeShardMap(endpoints, policy);
  const state = new ServingState();
  state.publish({ map, topology: { policy, xds: DEFAULT_XDS_SETTINGS, endpoints: map.endpoints } });
  const app = await buildAdminApp(state, { token });
  const origin = await app.listen({ host: '127.0.0.1', port: 0 });
  return { origin, close: () => app.close() };
}

/** A reverse proxy serving each origin under its prefix, as `kubectl proxy` does; every request's path and Authorization header. */
async function prefixProxy(routes: Record<string, string>): Promise<{ url: string; sent: { path: string; auth: string | undefined }[]; close(): Promise<void> }> {
  const sent: { path: string; auth: string | undefined }[] = [];
  const server = http.createServer((req, res) => {
    const url = req.url ?? '/';
    sent.push({ path: url, auth: req.headers.authorization });
    const prefix = Object.keys(routes).find((p) => url.startsWith(`${p}/`));
    if (prefix === undefined) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('404 page not found');
      return;
    }
    const origin = routes[prefix]!;
    const upstream = http.request(`${origin}${url.slice(prefix.length)}`, { method: req.method, headers: { ...req.headers, host: new URL(origin).host } }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    });
    upstream.on('error', () => res.writeHead(502).end());
    req.pipe(upstream);
  });
  server.keepAliveTimeout = 500;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    sent,
    close: () => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }),
  };
}

describe('web view admin token behind two path prefixes of one origin', { skip: chromiumSkipReason() }, () => {
  let browser: HeadlessBrowser | undefined;
  let staging: Awaited<ReturnType<typeof keyway>> | undefined;
  let prod: Awaited<ReturnType<typeof keyway>> | undefined;
  let proxy: Awaited<ReturnType<typeof prefixProxy>> | undefined;

  before(async () => {
    staging = await keyway('staging-token');
    prod = await keyway('prod-token');
    proxy = await prefixProxy({ [STAGING]: staging.origin, [PROD]: prod.origin });
    browser = await launch();
  });
  after(async () => {
    await browser?.close();
    await proxy?.close();
    await staging?.close();
    await prod?.close();
  });

  test("the token typed for one keyway is not sent to the other one's page in the same tab", async (t) => {
    const page = await browser!.context.newPage();
    t.after(() => page.close());
    await page.goto(`${proxy!.url}${STAGING}/`);
    await page.locator('#token-form').waitFor({ state: 'visible', timeout: 15_000 });
    await page.fill('#token', 'staging-token');
    await page.click('#token-form button');
    await eventually('the staging map', () => page.getAttribute('#grid', 'data-cells'), { accept: (n) => n === '16', timeoutMs: 15_000, intervalMs: 100 });

    await page.goto(`${proxy!.url}${PROD}/`);
    await page.locator('#token-form').waitFor({ state: 'visible', timeout: 15_000 });
    assert.match((await page.textContent('#token-message')) ?? '', /requires the admin token/);
    const toProd = proxy!.sent.filter((s) => s.path.startsWith(`${PROD}/`));
    assert.ok(toProd.some((s) => s.path.startsWith(`${PROD}/v1/`)), 'the prod page asked for /v1');
    assert.deepEqual(toProd.filter((s) => s.auth !== undefined).map((s) => `${s.path} ${s.auth}`), [], 'no token sent to prod');

    // Back on staging, the token typed there is still the one it uses.
    await page.goto(`${proxy!.url}${STAGING}/`);
    await eventually('the staging map again', () => page.getAttribute('#grid', 'data-cells'), { accept: (n) => n === '16', timeoutMs: 15_000, intervalMs: 100 });
    assert.equal(await page.evaluate(`document.getElementById('token-form').hidden`), true);
  });
});
