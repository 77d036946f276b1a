/**
 * The web view during a handoff (docs/api.md "Web view"), in headless Chromium with its clock
 * stubbed: each move that completes is a new map version, and the page read the whole map at each
 * one (26 MB at S = 65536, about 0.4 s of keyway's event loop to serialize per version). A map past
 * LARGE_MAP_CHARS with shards in transition is now read at most once per HANDOFF_MAP_MS (10 s),
 * and the page says so; once the handoff ends, or for a small map, every version is read.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { BrowserContext, Request } from 'playwright-core';
import { buildAdminApp } from '../../../src/admin/index.js';
import { ServingState } from '../../../src/app/serving-state.js';
import { chromiumSkipReason, openWebView, type OpenWebView } from '../../../e2e/support/chromium.js';
import { eventually } from '../../support/eventually.js';

/** A `/v1/shardmap` body (the fields the page reads): `idChars` sets the ids' length, so the body's size. */
function mapBody(shardCount: number, idChars: number, moving: number): Record<string, unknown> {
  const ids = Array.from({ length: 16 }, (_, i) => `node-${i}-`.padEnd(idChars, 'x'));
  const endpoints = ids.map((id, i) => ({
    id,
    address: '10.0.0.1',
    port: 7000 + i,
    locality: { region: 'r', zone: `z${i % 2}`, subzone: `f${i % 4}` },
    weight: 1,
    ready: true,
    draining: false,
    shardsOwned: 0,
    shardsPrimary: 0,
  }));
  const owners = (shard: number): string[] => [ids[shard % 16]!, ids[(shard + 1) % 16]!];
  const transitions = Array.from({ length: moving }, (_, shard) => ({
    shard,
    from: owners(shard),
    to: [ids[(shard + 2) % 16]!, ids[shard % 16]!],
    warming: ids[(shard + 2) % 16]!,
    startedAt: '2026-01-01T00:00:00.000Z',
    deadline: '2026-01-01T00:10:00.000Z',
  }));
  return {
    shardCount,
    replicas: 2,
    spread: 'none',
    shards: Array.from({ length: shardCount }, (_, shard) => ({ shard, owners: owners(shard) })),
    endpoints,
    warnings: [],
    updatedAt: '2026-01-01T00:00:00.000Z',
    handoff: { enabled: true, transitions, drains: [] },
    hotShards: { shards: [], moves: 0, deferred: 0 },
    stale: false,
    sources: [],
  };
}

/** About 3.3 MB with 1000 shards warming: past the page's 2 000 000 characters. */
const LARGE_MOVING = mapBody(4096, 200, 1000);
const LARGE_SETTLED = mapBody(4096, 200, 0);
/** About 50 KB, 100 shards warming. */
const SMALL_MOVING = mapBody(256, 20, 100);

describe('web view during a handoff: reads of a large map', { skip: chromiumSkipReason() }, () => {
  let context: BrowserContext;
  let origin: string;
  let view: OpenWebView | undefined;

  before(async () => {
    view = await openWebView(await buildAdminApp(new ServingState()));
    context = view.context;
    origin = view.origin;
  });
  after(async () => {
    await view?.close();
  });

  /** A page over a played keyway whose map the test sets; map reads (200s) counted. */
  async function played(t: { after(fn: () => Promise<void>): void }, first: Record<string, unknown>) {
    let body = first;
    let version = 0;
    const page = await context.newPage();
    t.after(() => page.close());
    const errors: string[] = [];
    page.on('pageerror', (err) => errors.push(err.message));
    let polls = 0;
    let asked = 0;
    const maps: string[] = [];
    const inFlight = new Set<Request>();
    page.on('request', (r) => {
      const path = new URL(r.url()).pathname;
      if (path === '/readyz') polls++;
      if (path === '/v1/shardmap') {
        asked++;
        inFlight.add(r);
      }
    });
    page.on('requestfinished', (r) => inFlight.delete(r));
    page.on('requestfailed', (r) => inFlight.delete(r));
    const name = (): string => `v${version}`;
    await page.route(/\/(readyz|v1\/.*)$/, async (route) => {
      const path = new URL(route.request().url()).pathname;
      if (path === '/readyz') return route.fulfill({ json: { ready: true, status: 'ready', version: name(), stale: false, sources: [] } });
      if (path === '/v1/shardmap') {
        const etag = `W/"${name()}"`;
        if (route.request().headers()['if-none-match'] === etag) return route.fulfill({ status: 304, headers: { etag } });
        maps.push(name());
        return route.fulfill({ body: JSON.stringify({ version: name(), ...body }), contentType: 'application/json', headers: { etag } });
      }
      if (path === '/v1/changes') return route.fulfill({ json: { changes: [] } });
      return route.fulfill({ json: { proxies: [] } });
    });
    await page.clock.install();
    await page.goto(`${origin}/`);
    const drawn = (v: string) => eventually(`version ${v} drawn`, () => page.getAttribute('#grid', 'data-version'), { accept: (x) => x === v, timeoutMs: 20_000, intervalMs: 20 });
    await drawn('v0');
    await page.clock.pauseAt(Number(await page.evaluate('Date.now()')) + 1000);
    /** Until no map read is under way, then one round trip more for the page's last steps. */
    const settle = async () => {
      await eventually('no map read under way', () => inFlight.size, { accept: (n) => n === 0, timeoutMs: 20_000, intervalMs: 20 });
      await page.evaluate(`fetch('/healthz').then((r) => r.text())`);
    };
    await settle();
    return {
      page,
      maps,
      errors,
      drawn,
      /** A new version of the map (its body `next`, else the same), as when one more move completed. */
      publish: (next?: Record<string, unknown>) => {
        version++;
        if (next) body = next;
        return name();
      },
      /** One poll: the page's clock moves 100 ms at a time until it asks /readyz again; then its map read, if any, ends. */
      tick: async () => {
        const before = polls;
        for (let i = 0; i < 100 && polls === before; i++) {
          await page.clock.runFor(100);
          await new Promise((r) => setTimeout(r, 20));
        }
        assert.ok(polls > before, 'the page polled');
        await settle();
      },
      note: () => page.locator('#reasons li[data-code="MAP_HANDOFF"]'),
      /** Requests for the map so far, conditional ones (304) included. */
      asked: () => asked,
    };
  }

  test('a large map in a handoff: a new version each second is read once per 10 s, not 20 times in 20 s; each version once it ends', async (t) => {
    const p = await played(t, LARGE_MOVING);
    assert.deepEqual(p.maps, ['v0']);
    let note: string[] = [];
    for (let i = 0; i < 20; i++) {
      p.publish();
      await p.tick();
      // Between reads the page says which version keyway has and why the one shown is older.
      if (i === 2) note = await p.note().allTextContents();
    }
    const during = p.maps.length - 1;
    assert.ok(during >= 1 && during <= 3, `${during} reads of the map for 20 versions in 20 s: ${JSON.stringify(p.maps)}`);
    assert.equal(note.length, 1, 'the note under the header');
    assert.match(note[0]!, /keyway's shard map is version v3; the map shown is version v0.*read every 10 s, not at each version/);

    // The handoff ends: read within 10 s, then every version again (no transitions, however large).
    p.publish(LARGE_SETTLED);
    for (let i = 0; i < 11 && (await p.page.getAttribute('#grid', 'data-version')) !== 'v21'; i++) await p.tick();
    await p.drawn('v21');
    const settled = p.maps.length;
    for (let i = 0; i < 3; i++) {
      const v = p.publish();
      await p.tick();
      await p.drawn(v);
    }
    assert.equal(p.maps.length - settled, 3, `every version read once the handoff ended: ${JSON.stringify(p.maps.slice(settled))}`);
    assert.equal(await p.note().count(), 0);
    assert.deepEqual(p.errors, []);
  });

  test('a large map in a handoff, the computer clock set back an hour: still read within 10 s, not held for the hour', async (t) => {
    const p = await played(t, LARGE_MOVING);
    assert.deepEqual(p.maps, ['v0']);
    // NTP steps the clock back (or someone sets it): Date.now() an hour earlier than at the last read.
    const wall = Number(await p.page.evaluate('Date.now()'));
    await p.page.clock.setSystemTime(wall - 3_600_000);
    for (let i = 0; i < 15 && p.maps.length === 1; i++) {
      p.publish();
      await p.tick();
    }
    assert.ok(p.maps.length >= 2, `a new version read within 15 polls after the clock step: ${JSON.stringify(p.maps)}`);
    assert.deepEqual(p.errors, []);
  });

  test('the computer clock set back an hour: the conditional refresh still comes every 30 s', async (t) => {
    const p = await played(t, SMALL_MOVING);
    const before = p.asked();
    const wall = Number(await p.page.evaluate('Date.now()'));
    await p.page.clock.setSystemTime(wall - 3_600_000);
    // No new version: only the 30 s refresh asks for the map, conditionally.
    for (let i = 0; i < 40 && p.asked() === before; i++) await p.tick();
    assert.ok(p.asked() > before, 'a conditional read of the map within 40 polls after the clock step');
    assert.deepEqual(p.maps, ['v0'], 'answered 304: the map is not read again');
    assert.deepEqual(p.errors, []);
  });

  test('a small map in a handoff: every version is read at the poll that sees it', async (t) => {
    const p = await played(t, SMALL_MOVING);
    for (let i = 0; i < 5; i++) {
      const v = p.publish();
      await p.tick();
      await p.drawn(v);
    }
    assert.deepEqual(p.maps, ['v0', 'v1', 'v2', 'v3', 'v4', 'v5']);
    assert.deepEqual(p.errors, []);
  });
});
