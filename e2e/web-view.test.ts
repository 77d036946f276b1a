/**
 * The web view in real headless Chromium (playwright-core): keyway serves a topology file, the page
 * draws exactly S cells whose colours are the primaries of the served map, and after the file is
 * edited the page shows the new version and no cell of the removed endpoint.
 *
 * Needs /usr/bin/chromium (scripts/install-chromium.sh); skipped without it unless
 * KEYWAY_REQUIRE_E2E=1. `KEYWAY_UPDATE_SCREENSHOT=1` rewrites docs/images/web-view.png from the
 * example topology.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { BrowserContext, Page } from 'playwright-core';
import { chromiumSkipReason, launch } from './support/chromium.js';
import { startKeyway, type KeywayProcess } from './support/keyway.js';
import { eventually } from '../test/support/eventually.js';
import { connectProxy } from '../test/cli/commands/proxy-fixture.js';
import { OwnershipAgent } from '../src/agent/index.js';
import type { ShardMapBody } from '../src/admin/api-types.js';

const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const S = 16384;
/** Six nodes in three fabrics (two zones); `without` leaves one out. */
function topology(without?: string): string {
  const nodes = [
    ['a1', 'z1', 'f1', 40],
    ['a2', 'z1', 'f1', 20],
    ['b1', 'z1', 'f2', 30],
    ['b2', 'z1', 'f2', 30],
    ['c1', 'z2', 'f3', 60],
    ['c2', 'z2', 'f3', 10],
  ] as const;
  const lines = [`shards: ${S}`, 'replicas: 2', 'spread: subzone', 'endpoints:'];
  nodes.forEach(([id, zone, subzone, weight], i) => {
    if (id === without) return;
    lines.push(`  - {id: ${id}, address: 127.0.0.1, port: ${7100 + i}, locality: {region: r, zone: ${zone}, subzone: ${subzone}}, weight: ${weight}}`);
  });
  return `${lines.join('\n')}\n`;
}

interface MapBody {
  version: string;
  shardCount: number;
  endpoints: { id: string; shardsPrimary: number }[];
}

async function shardMap(keyway: KeywayProcess): Promise<MapBody> {
  const res = await fetch(`${keyway.httpUrl}/v1/shardmap`);
  assert.equal(res.status, 200);
  return (await res.json()) as MapBody;
}

// In-page code is passed to Chromium as source text: this file compiles without DOM types, and tsx's
// helpers (such as `__name`) would not exist in the page.

/** What the canvas shows: its data attributes and, per colour, the opaque pixels of that colour. */
const CANVAS_STATE = `(() => {
  const canvas = document.getElementById('grid');
  const d = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
  const pixels = {};
  const hex = (n) => n.toString(16).padStart(2, '0');
  for (let i = 0; i < d.length; i += 4) {
    if (d[i + 3] !== 255) continue;
    const c = '#' + hex(d[i]) + hex(d[i + 1]) + hex(d[i + 2]);
    pixels[c] = (pixels[c] || 0) + 1;
  }
  return { data: { ...canvas.dataset }, pixels };
})()`;

interface CanvasState {
  data: Record<string, string>;
  pixels: Record<string, number>;
}

async function canvasState(page: Page): Promise<CanvasState> {
  return (await page.evaluate(CANVAS_STATE)) as CanvasState;
}

/** Endpoint id to colour, from the legend. */
async function legendColors(page: Page): Promise<Record<string, string>> {
  return (await page.evaluate(
    `Object.fromEntries([...document.querySelectorAll('#legend [data-endpoint]')].map((e) => [e.dataset.endpoint, e.dataset.color]))`,
  )) as Record<string, string>;
}

/** Waits until the grid on the page shows shard-map `version`. */
async function waitForVersion(page: Page, version: string, timeoutMs: number): Promise<void> {
  // Polled with evaluate: waitForFunction would compile the predicate in the page, which the page's
  // Content-Security-Policy (no 'unsafe-eval') forbids, and the test keeps that policy in force.
  await eventually(`the page to draw shard map ${version}`, () => page.evaluate(`document.getElementById('grid')?.dataset.version`) as Promise<string | undefined>, { accept: (v) => v === version, timeoutMs, intervalMs: 100 });
}

/** Asserts the canvas holds, for each endpoint, exactly one filled cell per shard it leads. */
function assertCellsMatchPrimaries(state: CanvasState, colors: Record<string, string>, map: MapBody): void {
  const side = Number(state.data.cellSize) - Number(state.data.cellGap);
  assert.ok(side >= 1, JSON.stringify(state.data));
  for (const e of map.endpoints) {
    const color = colors[e.id];
    assert.ok(color, `legend has no colour for ${e.id}`);
    assert.equal((state.pixels[color] ?? 0) / (side * side), e.shardsPrimary, `cells coloured for ${e.id} (${color})`);
  }
}

const skip = chromiumSkipReason();

describe('web view in headless Chromium', { skip }, () => {
  let dir: string;
  let file: string;
  let keyway: KeywayProcess;
  let context: BrowserContext;
  let profile: string;
  let page: Page;
  const pageErrors: string[] = [];

  before(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'keyway-web-'));
    file = path.join(dir, 'topology.yaml');
    writeFileSync(file, topology());
    keyway = await startKeyway({ configPath: file, httpPort: 0, xdsPort: 0 });
    ({ context, profile } = await launch());
    page = await context.newPage();
    page.on('pageerror', (err) => pageErrors.push(err.message));
  });

  after(async () => {
    await context?.close();
    await keyway?.stop();
    if (profile) rmSync(profile, { recursive: true, force: true });
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test('draws exactly S cells, coloured by the primaries of the served map', async () => {
    const map = await shardMap(keyway);
    assert.equal(map.shardCount, S);
    await page.goto(`${keyway.httpUrl}/`);
    await waitForVersion(page, map.version, 20_000);
    const state = await canvasState(page);
    assert.equal(state.data.cells, String(S));
    assert.equal(state.data.shardCount, String(S));
    assert.equal(state.data.panels, '3', 'one panel per fabric');
    const colors = await legendColors(page);
    assert.deepEqual(Object.keys(colors).sort(), ['a1', 'a2', 'b1', 'b2', 'c1', 'c2']);
    assert.equal(new Set(Object.values(colors)).size, 6, 'distinct colours');
    assertCellsMatchPrimaries(state, colors, map);
    assert.equal(await page.textContent('#summary-version'), map.version);
    assert.equal(await page.getAttribute('#status', 'data-state'), 'ready');
    // Ownership bars: one per endpoint; proxies: none yet, said plainly.
    assert.equal(await page.locator('#shares .track').count(), 6);
    assert.match((await page.textContent('#proxies')) ?? '', /No proxies/);
    assert.deepEqual(pageErrors, []);
  });

  test('after a topology edit the page shows the new version and the removed node owns no cell', async () => {
    const before = await shardMap(keyway);
    const colorsBefore = await legendColors(page);
    const c1 = colorsBefore.c1!;
    assert.ok(((await canvasState(page)).pixels[c1] ?? 0) > 0);

    const tmp = path.join(dir, '.topology.yaml.tmp');
    writeFileSync(tmp, topology('c1'));
    renameSync(tmp, file);
    const after = await eventually('the new shard map', () => shardMap(keyway), { accept: (m) => m.version !== before.version, timeoutMs: 10_000 });
    assert.deepEqual(after.endpoints.map((e) => e.id), ['a1', 'a2', 'b1', 'b2', 'c2']);

    await waitForVersion(page, after.version, 10_000);
    const state = await canvasState(page);
    assert.equal(state.data.cells, String(S));
    assert.equal(state.pixels[c1] ?? 0, 0, 'no cell keeps the removed node colour');
    const colors = await legendColors(page);
    assert.equal(colors.c1, undefined);
    // Colours stay with their endpoints across the change, so only the moved cells changed colour.
    for (const id of ['a1', 'a2', 'b1', 'b2', 'c2']) assert.equal(colors[id], colorsBefore[id], id);
    assertCellsMatchPrimaries(state, colors, after);
    assert.equal(await page.textContent('#summary-version'), after.version);
    // The change is listed under recent moves.
    await page.waitForSelector(`#changes li[data-to-version="${after.version}"]`, { timeout: 10_000 });
    assert.match((await page.textContent(`#changes li[data-to-version="${after.version}"]`)) ?? '', /\d+ shards moved; primaries c1 → /);
    assert.deepEqual(pageErrors, []);
  });

  test('connected proxies appear with their per-type sync state', async () => {
    const clients = [
      await connectProxy(keyway.xdsPort, 'envoy-1', { subZone: 'f1' }),
      await connectProxy(keyway.xdsPort, 'envoy-2', { subZone: 'f2', nackRoutes: 'rejected on purpose' }),
    ];
    // A cache node's ownership agent (docs/ownership.md): its row shows only its assignment kind.
    const agent = new OwnershipAgent({ nodeId: 'a1', servers: [`127.0.0.1:${keyway.xdsPort}`] });
    agent.start();
    try {
      await page.waitForSelector('#proxies tr[data-proxy="envoy-2"]', { timeout: 10_000 });
      const badges = async (id: string): Promise<string[]> =>
        (await page.locator(`#proxies tr[data-proxy="${id}"] .badge`).allTextContents()).map((x) => x.trim());
      await eventually('envoy-1 SYNCED', () => badges('envoy-1'), { accept: (b) => b.join() === 'SYNCED,SYNCED,SYNCED,SYNCED', timeoutMs: 10_000 });
      await eventually('envoy-2 NACKED on RDS', () => badges('envoy-2'), { accept: (b) => b.join() === 'SYNCED,SYNCED,SYNCED,NACKED', timeoutMs: 10_000 });
      const nack = await page.getAttribute('#proxies tr[data-proxy="envoy-2"] .badge.NACKED', 'title');
      assert.match(nack ?? '', /rejected on purpose/);
      // The header says keyway is degraded while a proxy runs on an older configuration, and why.
      await page.waitForSelector('#status[data-state="degraded"]', { timeout: 10_000 });
      assert.equal((await page.textContent('#status'))?.trim(), 'degraded');
      assert.match((await page.textContent('#reasons li[data-code="proxy_nack"]')) ?? '', /envoy-2 route: rejected on purpose/);
      assert.match((await page.textContent('#proxies tr[data-proxy="envoy-1"]')) ?? '', /r\/z0\/f1/);
      await eventually('the agent a1 SYNCED on its assignments', () => badges('a1'), { accept: (b) => b.join() === 'SYNCED', timeoutMs: 10_000 });
      assert.match((await page.textContent('#proxies tr[data-proxy="a1"]')) ?? '', /agent/);
    } finally {
      clients.forEach((c) => c.close());
      await agent.close();
    }
    await page.waitForSelector('#no-proxies', { timeout: 10_000 });
    await page.waitForSelector('#status[data-state="ready"]', { timeout: 10_000 });
    assert.equal(await page.isVisible('#reasons'), false, 'no reasons once the NACKing proxy is gone');
    assert.deepEqual(pageErrors, []);
  });
});

describe('web view during a handoff', { skip }, () => {
  test('shards in transition are marked and counted while the new primary warms, and the marks go when it flips', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'keyway-web-handoff-'));
    const file = path.join(dir, 'topology.yaml');
    const ids = ['a', 'b', 'c', 'd'];
    const write = (list: readonly string[]): void => {
      const lines = ['shards: 256', 'replicas: 2', 'handoff: {warmTimeoutMs: 120000}', 'endpoints:'];
      list.forEach((id, i) => lines.push(`  - {id: ${id}, address: 127.0.0.1, port: ${7200 + i}}`));
      writeFileSync(`${file}.tmp`, `${lines.join('\n')}\n`);
      renameSync(`${file}.tmp`, file);
    };
    write(ids);
    const keyway = await startKeyway({ configPath: file, httpPort: 0, xdsPort: 0 });
    const { context, profile } = await launch();
    // Every node runs an agent; e's warm-up waits for the gate, so the transition can be looked at.
    let openGate: () => void = () => {};
    const gate = new Promise<void>((resolve) => (openGate = resolve));
    const agents = [...ids, 'e'].map(
      (id) => new OwnershipAgent({ nodeId: id, servers: [`127.0.0.1:${keyway.xdsPort}`], warm: () => (id === 'e' ? gate : Promise.resolve()) }),
    );
    agents.forEach((a) => a.start());
    try {
      await eventually('five agents', async () => ((await (await fetch(`${keyway.httpUrl}/v1/proxies`)).json()) as { proxies: unknown[] }).proxies.length, {
        accept: (n) => n === 5,
        timeoutMs: 10_000,
      });
      write([...ids, 'e']);
      const during = await eventually('shards in transition', async () => (await (await fetch(`${keyway.httpUrl}/v1/shardmap`)).json()) as ShardMapBody, {
        accept: (m) => m.handoff.transitions.length > 0,
        timeoutMs: 10_000,
      });
      const page = await context.newPage();
      await page.goto(`${keyway.httpUrl}/`);
      await waitForVersion(page, during.version, 20_000);
      const state = await canvasState(page);
      assert.ok(Number(state.data.cellSize) - Number(state.data.cellGap) >= 3, 'cells large enough for the mark');
      assert.equal(state.data.transitions, String(during.handoff.transitions.length));
      const colors = await legendColors(page);
      assert.ok((state.pixels[colors.e!] ?? 0) > 0, "the warming node's colour marks the cells in transition");
      assert.match((await page.textContent('#summary-transition')) ?? '', new RegExp(`^${during.handoff.transitions.length} shards warming on e; \\d+ draining$`));
      openGate();
      const after = await eventually('flipped', async () => (await (await fetch(`${keyway.httpUrl}/v1/shardmap`)).json()) as ShardMapBody, {
        accept: (m) => m.handoff.transitions.length === 0,
        timeoutMs: 10_000,
      });
      await waitForVersion(page, after.version, 10_000);
      assert.equal((await canvasState(page)).data.transitions, '0');
    } finally {
      await Promise.all(agents.map((a) => a.close()));
      await context.close();
      await keyway.stop();
      rmSync(profile, { recursive: true, force: true });
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('web view of the example topology', { skip }, () => {
  test('renders the bundled example with proxies and recent moves (KEYWAY_UPDATE_SCREENSHOT=1 writes docs/images/web-view.png)', async () => {
    // A copy of the example, so a node can leave and come back: the map ends as the example's own.
    const dir = mkdtempSync(path.join(tmpdir(), 'keyway-web-example-'));
    const file = path.join(dir, 'topology.yaml');
    const example = readFileSync(path.join(REPO_ROOT, 'examples', 'topology.yaml'), 'utf8');
    writeFileSync(file, example);
    const keyway = await startKeyway({ configPath: file, httpPort: 0, xdsPort: 0 });
    const { context, profile } = await launch();
    const clients: Awaited<ReturnType<typeof connectProxy>>[] = [];
    try {
      const original = await shardMap(keyway);
      const replace = async (text: string, until: (m: MapBody) => boolean): Promise<MapBody> => {
        writeFileSync(`${file}.tmp`, text);
        renameSync(`${file}.tmp`, file);
        return eventually('the shard map after an edit', () => shardMap(keyway), { accept: until, timeoutMs: 10_000 });
      };
      const i = example.indexOf('  - id: gpu-b4');
      await replace(example.slice(0, i), (m) => m.version !== original.version);
      await replace(example, (m) => m.version === original.version);
      clients.push(await connectProxy(keyway.xdsPort, 'envoy-gateway-a', { region: 'us-east', zone: 'us-east-1a', subZone: 'nvl-1' }));
      clients.push(await connectProxy(keyway.xdsPort, 'envoy-gateway-b', { region: 'us-east', zone: 'us-east-1b', subZone: 'nvl-3' }));
      clients.push(await connectProxy(keyway.xdsPort, 'envoy-canary', { region: 'us-east', zone: 'us-east-1b', subZone: 'nvl-4', nackRoutes: 'route: unknown cluster' }));

      const page = await context.newPage();
      await page.goto(`${keyway.httpUrl}/`);
      await waitForVersion(page, original.version, 20_000);
      const state = await canvasState(page);
      assert.equal(state.data.cells, '1024');
      assert.equal(state.data.panels, '4', 'four NVLink fabrics');
      assertCellsMatchPrimaries(state, await legendColors(page), original);
      assert.equal(await page.locator('#changes li[data-to-version]').count(), 2, 'gpu-b4 left and came back');
      await page.waitForSelector('#proxies tr[data-proxy="envoy-canary"] .badge.NACKED', { timeout: 10_000 });
      if (process.env.KEYWAY_UPDATE_SCREENSHOT === '1') {
        const out = path.join(REPO_ROOT, 'docs', 'images', 'web-view.png');
        mkdirSync(path.dirname(out), { recursive: true });
        await page.screenshot({ path: out, fullPage: true });
      }
    } finally {
      clients.forEach((c) => c.close());
      await context.close();
      await keyway.stop();
      rmSync(profile, { recursive: true, force: true });
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
