/**
 * `GET /metrics` is open without the admin token and renders every metric (1.6 MB and about 64 ms
 * of event loop at 5000 endpoints), and rendered afresh for every request. src/admin/metrics-routes.ts
 * renders once for requests that come together and, past a small burst, reuses the last body, so a
 * flood of scrapes costs about a tenth of the event loop and no scrape sees a body older than ten
 * times its render time (at most 1 s).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { buildAdminApp } from '../../src/admin/index.js';
import {
  METRICS_RENDER_BURST_MS,
  METRICS_REUSE_CEILING_MS,
  METRICS_REUSE_RATIO,
  metricsReuseMs,
  reusedRender,
} from '../../src/admin/metrics-routes.js';
import { ServingState } from '../../src/app/serving-state.js';
import { PROMETHEUS_CONTENT_TYPE } from '../../src/telemetry/prometheus-registry.js';

/** A render that takes `costMs` on the fake clock and says which render it is and when it ended. */
function fakeRender(clock: { t: number }, costMs: number): { render: () => Promise<string>; count: () => number } {
  let n = 0;
  return {
    render: async () => {
      n += 1;
      const mine = n;
      await Promise.resolve();
      clock.t += costMs;
      return `render ${mine} at ${clock.t}\n`;
    },
    count: () => n,
  };
}

const renderedAt = (body: Buffer): number => Number(/at (\S+)/.exec(body.toString())![1]);

test('requests that come together share one render', async () => {
  const clock = { t: 0 };
  const r = fakeRender(clock, 5);
  const body = reusedRender(r.render, { now: () => clock.t });
  const bodies = await Promise.all(Array.from({ length: 50 }, () => body()));
  assert.equal(r.count(), 1, 'fifty concurrent requests, one render');
  assert.ok(bodies.every((b) => b.equals(bodies[0]!)));
});

test('a flood of 64 ms renders (5000 endpoints): rapid requests reuse one body, rendering stays near a tenth, no body older than 10x its render time', async () => {
  const clock = { t: 0 };
  const r = fakeRender(clock, 64);
  const body = reusedRender(r.render, { now: () => clock.t });
  const first = await body();
  for (let i = 0; i < 100; i++) assert.ok((await body()).equals(first), 'a rapid request reuses the body');
  assert.equal(r.count(), 1, '101 rapid requests, one render');

  // One request per ms for 20 s.
  let oldest = 0;
  const end = clock.t + 20_000;
  while (clock.t < end) {
    clock.t += 1;
    oldest = Math.max(oldest, clock.t - renderedAt(await body()));
  }
  const rendering = r.count() * 64;
  assert.ok(rendering <= METRICS_RENDER_BURST_MS + 20_000 / METRICS_REUSE_RATIO + 64, `${r.count()} renders: ${rendering} ms of 20 s`);
  assert.ok(oldest <= metricsReuseMs(64), `the oldest body served was ${oldest} ms old (bound ${metricsReuseMs(64)} ms)`);
  assert.ok(oldest >= metricsReuseMs(64) / 2, `reused, not rendered per request (${oldest} ms)`);
});

test('cheap renders: scrapes close together get fresh bodies within the burst; a sustained flood is reused, and after the bound a change is visible', async () => {
  const clock = { t: 0 };
  const r = fakeRender(clock, 2);
  const body = reusedRender(r.render, { now: () => clock.t });
  // Before and after an action, 5 ms apart: both fresh.
  const before = await body();
  clock.t += 5;
  const after = await body();
  assert.notEqual(renderedAt(after), renderedAt(before), 'a scrape right after another is fresh while the budget lasts');
  // A flood at the same instant spends the burst, then reuses.
  for (let i = 0; i < 200; i++) await body();
  // The renders' own time refills the budget a little (a tenth of it).
  assert.ok(r.count() * 2 <= METRICS_RENDER_BURST_MS + clock.t / METRICS_REUSE_RATIO + 2, `${r.count()} renders in ${clock.t} ms`);
  const reused = await body();
  const count = r.count();
  assert.ok((await body()).equals(reused), 'the budget spent: reused');
  assert.equal(r.count(), count);
  clock.t = renderedAt(reused) + metricsReuseMs(2);
  assert.notEqual(renderedAt(await body()), renderedAt(reused), 'past the bound: rendered again, whatever the budget');
});

test('the reuse is capped by the ceiling however slow the render, and has no floor', async () => {
  assert.equal(metricsReuseMs(64), 64 * METRICS_REUSE_RATIO);
  assert.equal(metricsReuseMs(0.05), 0.5, 'a cheap render is reused for a fraction of a millisecond at most');
  assert.equal(metricsReuseMs(0), 0);
  assert.equal(metricsReuseMs(500), METRICS_REUSE_CEILING_MS);
  assert.equal(METRICS_REUSE_CEILING_MS, 1_000);
  const clock = { t: 0 };
  const r = fakeRender(clock, 400);
  const body = reusedRender(r.render, { now: () => clock.t });
  await body();
  clock.t = 400 + METRICS_REUSE_CEILING_MS - 1;
  await body();
  assert.equal(r.count(), 1);
  clock.t = 400 + METRICS_REUSE_CEILING_MS;
  await body();
  assert.equal(r.count(), 2, 'not 4 s (ten times 400 ms): the ceiling');
});

test('a failed render is not kept: every waiting request gets the error, the next one renders again', async () => {
  let calls = 0;
  const body = reusedRender(async () => {
    calls += 1;
    await Promise.resolve();
    if (calls === 1) throw new Error('collect failed');
    return 'ok\n';
  });
  const results = await Promise.allSettled([body(), body(), body()]);
  assert.ok(results.every((r) => r.status === 'rejected'));
  assert.equal(calls, 1);
  assert.equal((await body()).toString(), 'ok\n');
  assert.equal(calls, 2);
});

test('a render that throws at once is not kept either', async () => {
  let calls = 0;
  const body = reusedRender(() => {
    calls += 1;
    if (calls === 1) throw new Error('shut down');
    return Promise.resolve('ok\n');
  });
  await assert.rejects(body(), /shut down/);
  assert.equal((await body()).toString(), 'ok\n');
});

test('GET /metrics over HTTP: concurrent and rapid scrapes of a costly body render once; after the bound a change is visible', async (t) => {
  let renders = 0;
  let value = 1;
  let cost = 80;
  const reader = {
    contentType: PROMETHEUS_CONTENT_TYPE,
    render: async () => {
      renders += 1;
      // Work on the event loop, as the real render's is: 80 ms spends the burst at once, so it is reused for about 800 ms.
      const until = performance.now() + cost;
      while (performance.now() < until);
      return `keyway_test_value ${value}\n`;
    },
  };
  const app = await buildAdminApp(new ServingState(), { readers: [{ metrics: reader }] });
  await app.listen({ port: 0, host: '127.0.0.1' });
  t.after(() => app.close());
  const url = `http://127.0.0.1:${(app.server.address() as { port: number }).port}/metrics`;
  const scrape = async (): Promise<string> => {
    const res = await fetch(url);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), PROMETHEUS_CONTENT_TYPE);
    return res.text();
  };

  const bodies = await Promise.all(Array.from({ length: 20 }, () => scrape()));
  assert.deepEqual(new Set(bodies), new Set(['keyway_test_value 1\n']));
  assert.equal(renders, 1, 'twenty concurrent scrapes, one render');
  value = 2;
  for (let i = 0; i < 5; i++) assert.equal(await scrape(), 'keyway_test_value 1\n', 'a rapid scrape, within the bound, reuses the body');
  assert.equal(renders, 1);

  // Past the ceiling, whatever the render took on this machine.
  cost = 1;
  await sleep(METRICS_REUSE_CEILING_MS + 50);
  assert.equal(await scrape(), 'keyway_test_value 2\n', 'after the bound the change is visible');
  assert.equal(renders, 2);
  // A cheap body, scraped before and after a change: both fresh (the burst pays).
  value = 3;
  assert.equal(await scrape(), 'keyway_test_value 3\n');
});
