/**
 * The web view against hostile text, in real headless Chromium over the real admin app (its CSP in
 * force): a topology file may write any text in a locality, an xDS client picks its own node id,
 * locality and NACK message, and the hot-shard explanation quotes them. Markup in any of them must
 * show as text (no element made, no script run, no CSP violation), and a name must not change what
 * the page says: a subzone called "(no owner)" is not the panel of shards without owners, and a
 * zone or subzone holding the separator the page joined them with does not merge two fabrics.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { create } from '@bufbuild/protobuf';
import type { Page } from 'playwright-core';
import { buildAdminApp } from '../src/admin/index.js';
import { ServingState } from '../src/app/serving-state.js';
import type { Endpoint } from '../src/core/endpoint.js';
import type { ProxyStatusReader } from '../src/core/proxy.js';
import { DEFAULT_XDS_SETTINGS } from '../src/core/settings.js';
import { computeShardMap } from '../src/sharding/index.js';
import { NodeSchema } from '../src/xds/proto.js';
import { identityOf, ProxyRegistry, TypeTracker } from '../src/xds/server/proxy-state.js';
import { KIND_ORDER, type ResourceKind } from '../src/xds/resources.js';
import { chromiumSkipReason, openWebView, type OpenWebView } from './support/chromium.js';
import { eventually } from '../test/support/eventually.js';

/** Markup that runs script if it ever reaches innerHTML, an attribute or a URL. */
const xss = (where: string): string =>
  `"'><img src=x onerror="window.__pwned='${where}'"><script>window.__pwned='${where}'</script><svg onload="window.__pwned='${where}'">`;

const ZONE = `z${xss('zone')}`;
const SUBZONE = `f</span>${xss('subzone')}`;
const PROXY_ID = `envoy-${xss('proxy id')}`;
const NACK = `bad route ${xss('nack')}\r\nINFO forged line \u001b[31mred\u001b[0m \u202egnirts`;

const endpoint = (id: string, zone: string, subzone: string): Endpoint => ({
  id,
  address: '10.0.0.1',
  port: 7000,
  locality: { region: 'r', zone, subzone },
  weight: 1,
  ready: true,
});

/** Five fabrics: markup, a subzone named like the no-owner panel, and two that a NUL joiner made one. */
const ENDPOINTS: Endpoint[] = [
  endpoint('a', ZONE, SUBZONE),
  endpoint('b', 'z1', '(no owner)'),
  endpoint('c', 'z2\u0000f', 'g'),
  endpoint('d', 'z2', 'f\u0000g'),
  endpoint('e', 'z3', 'h'),
];

/** One Envoy whose node id and locality are markup, its route update NACKed with markup and control characters. */
function hostileProxies(): ProxyStatusReader {
  const registry = new ProxyRegistry();
  const now = Date.now();
  const types = new Map<ResourceKind, TypeTracker>();
  for (const kind of KIND_ORDER.filter((k) => k !== 'assignment')) {
    const t = new TypeTracker(kind);
    t.initialized = true;
    t.wildcard = true;
    t.recordSent(`n-${kind}`, `v-${kind}`, now - 2000);
    if (kind === 'route') t.recordNack(NACK, now - 1000);
    else t.recordAck(now - 1500);
    types.set(kind, t);
  }
  const node = create(NodeSchema, { id: PROXY_ID, cluster: xss('cluster'), userAgentName: 'envoy', locality: { region: 'r', zone: ZONE, subZone: SUBZONE } });
  registry.add({ id: 's-1', protocol: 'sotw', service: 'ads', startedAt: now - 5000, identity: identityOf(node), types });
  return {
    proxies: (o) => registry.proxies(o),
    proxy: (id, o) => registry.proxy(id, o),
    nodeIds: (f) => registry.nodeIds(f),
    configDump: () => undefined,
  };
}

/** Records, before the page's script runs, every CSP violation and every text drawn on the grid. */
const RECORDER = `(() => {
  window.__violations = [];
  window.__drawn = [];
  document.addEventListener('securitypolicyviolation', (e) => window.__violations.push(e.violatedDirective + ' ' + e.blockedURI));
  const fillText = CanvasRenderingContext2D.prototype.fillText;
  CanvasRenderingContext2D.prototype.fillText = function (text, ...rest) {
    window.__drawn.push(String(text));
    return fillText.call(this, text, ...rest);
  };
})()`;

describe('web view: hostile names and messages', { skip: chromiumSkipReason() }, () => {
  let view: OpenWebView | undefined;
  let page: Page;
  const pageErrors: string[] = [];
  const S = 256;

  before(async () => {
    const state = new ServingState();
    const policy = { shardCount: S, replicas: 1, spread: 'none' } as const;
    const map = computeShardMap(ENDPOINTS, policy);
    const hot = map.owners.findIndex((o) => o[0] === 'a');
    state.publish({
      map,
      topology: { policy, xds: DEFAULT_XDS_SETTINGS, endpoints: map.endpoints },
      hotShards: {
        windowStartMs: Date.now() - 10_000,
        shards: [{ shard: hot, load: 100, owners: ['a'], readers: 1, reason: 'bounded-load', explanation: `moved for ${xss('explanation')}` }],
        moves: 1,
        deferred: 0,
      },
    });
    view = await openWebView(await buildAdminApp(state, { readers: [{ proxies: hostileProxies() }] }));
    page = await view.context.newPage();
    page.on('pageerror', (err) => pageErrors.push(err.message));
    await page.addInitScript(RECORDER);
    await page.goto(`${view.origin}/`);
    await eventually('the grid', () => page.getAttribute('#grid', 'data-version'), { accept: (v) => v === map.version, timeoutMs: 15_000, intervalMs: 100 });
    await eventually('the proxy row', () => page.locator('#proxies td.mono').count(), { accept: (n) => n === 1, timeoutMs: 15_000, intervalMs: 100 });
    await eventually('the NACK as a reason', () => page.locator('#reasons li').count(), { accept: (n) => n > 0, timeoutMs: 15_000, intervalMs: 100 });
    // Hover every cell's row once, so the tooltip is built from the hostile names too.
    const box = (await page.locator('#grid').boundingBox())!;
    for (let y = 0; y < box.height; y += 4) await page.mouse.move(box.x + 6, box.y + y);
  });

  after(async () => {
    await page?.close();
    await view?.close();
  });

  test('markup in a locality, a node id, a NACK or an explanation runs nothing and makes no element', async () => {
    const result = (await page.evaluate(`({
      pwned: window.__pwned,
      violations: window.__violations,
      foreign: document.querySelectorAll('img, svg, iframe, object, embed').length,
      scripts: document.querySelectorAll('script').length,
    })`)) as { pwned: unknown; violations: string[]; foreign: number; scripts: number };
    assert.equal(result.pwned, undefined);
    assert.deepEqual(result.violations, []);
    assert.equal(result.foreign, 0);
    assert.equal(result.scripts, 1, 'only the page script');
    assert.deepEqual(pageErrors, []);
  });

  test('the hostile text is shown as written', async () => {
    const fabricNames = await page.locator('#legend .fabric-name').allTextContents();
    assert.ok(fabricNames.includes(`${SUBZONE} · ${ZONE}`), fabricNames.join('\n'));
    assert.equal(await page.locator('#proxies td.mono').textContent(), PROXY_ID);
    assert.ok((await page.locator('#proxies td').nth(2).textContent())?.includes(ZONE));
    assert.match((await page.locator('#reasons li').first().textContent()) ?? '', /bad route "'><img src=x onerror=/);
    assert.ok((await page.locator('#hot-shards td.why').textContent())?.includes(xss('explanation')));
  });

  test('a subzone named "(no owner)" is not the panel of shards without owners', async () => {
    const drawn = (await page.evaluate('window.__drawn')) as string[];
    // Every shard has an owner: no panel says otherwise.
    assert.deepEqual(drawn.filter((t) => t.startsWith('no owner')), [], drawn.join('\n'));
    assert.ok(drawn.some((t) => t.startsWith('(no owner) · z1: primary for ')), drawn.join('\n'));
  });

  test('a zone or subzone holding a NUL does not merge two fabrics', async () => {
    assert.equal(await page.getAttribute('#grid', 'data-panels'), String(ENDPOINTS.length), 'one panel per (region, zone, subzone)');
    assert.equal(await page.locator('#legend .fabric-name').count(), ENDPOINTS.length, 'one legend group per fabric');
  });
});
