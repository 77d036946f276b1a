/**
 * The web view shows hot shards (docs/hot-shards.md) in real headless Chromium: keyway in-process
 * with load snapshots fed directly (Zipf 1.0 over 8 weighted nodes), the page frames exactly the
 * hot shards' cells, lists each with its readers and explanation, and says so in the header.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { BrowserContext, Page } from 'playwright-core';
import { startServer, type RunningServer } from '../src/app/index.js';
import { chromiumSkipReason, type HeadlessBrowser, launch } from './support/chromium.js';
import { FedSnapshots } from '../test/support/fed-snapshots.js';
import { snapshotOf, zipfShardLoads } from '../test/sharding/hot-shards-fixtures.js';
import { tempTopology } from '../test/serve/support.js';
import { eventually } from '../test/support/eventually.js';

function topology(): string {
  const weights = [1, 1, 2, 2, 4, 4, 8, 8];
  // A spread threshold below the default so that the fixture has spread shards as well as moved
  // ones (at the default 0.5 the hottest shard's primary may be a heavy node that takes it whole).
  const lines = ['shards: 1024', 'replicas: 2', 'hotShards: {spreadThreshold: 0.2}', 'endpoints:'];
  weights.forEach((w, i) => {
    lines.push(`  - {id: n${i}, address: 127.0.0.1, port: ${7200 + i}, locality: {region: r, zone: z, subzone: f${i % 2}}, weight: ${w}}`);
  });
  return `${lines.join('\n')}\n`;
}

describe('web view: hot shards', { skip: chromiumSkipReason() }, () => {
  let topo: Awaited<ReturnType<typeof tempTopology>>;
  let server: RunningServer;
  let context: BrowserContext;
  let browser: HeadlessBrowser | undefined;
  let page: Page;
  const pageErrors: string[] = [];

  before(async () => {
    topo = await tempTopology(topology());
    const snapshots = new FedSnapshots();
    snapshots.feed([snapshotOf(zipfShardLoads(100_000, 1.0, 1024, 10_000), 0)]);
    server = await startServer({ configFile: topo.file, httpPort: 0, host: '127.0.0.1', loadSnapshots: snapshots });
    browser = await launch();
    ({ context } = browser);
    page = await context.newPage();
    page.on('pageerror', (err) => pageErrors.push(err.message));
  });

  after(async () => {
    await browser?.close();
    await server?.close();
    await topo?.cleanup();
  });

  test('frames the hot shards, lists them with readers and why, and counts them in the header', async () => {
    const view = server.state.current()!;
    const hot = view.hotShards!.shards;
    assert.ok(hot.length > 0);
    await page.goto(`http://127.0.0.1:${server.httpPort}/`);
    await eventually('the grid', async () => page.getAttribute('#grid', 'data-version'), { accept: (v) => v === view.map.version, timeoutMs: 20_000 });
    assert.equal(await page.getAttribute('#grid', 'data-hot'), String(hot.length), 'one frame per hot shard');
    assert.equal(await page.isVisible('#hot-section'), true);
    assert.equal(await page.locator('#hot-shards tbody tr').count(), hot.length);
    const spread = hot.filter((h) => h.reason === 'spread');
    assert.ok(spread.length > 0 && spread.length < hot.length, `spread and moved shards both present (${spread.length} of ${hot.length} spread)`);
    const top = [...spread].sort((a, b) => b.load - a.load)[0]!;
    const row = page.locator(`#hot-shards tr[data-shard="${top.shard}"]`);
    assert.match((await row.textContent()) ?? '', new RegExp(`spread${top.readers}`));
    assert.equal(await row.locator('td.why').textContent(), top.explanation);
    assert.equal(await page.textContent('#summary-hot'), `${spread.length} spread, ${hot.length - spread.length} moved`);
    assert.match((await page.textContent('#hot-summary')) ?? '', /busiest node [\d.]+x its weight share \(plain rendezvous [\d.]+x\)/);
    assert.deepEqual(pageErrors, []);
  });
});
