/**
 * `GET /metrics` is open without the admin token, and one render at 5000 endpoints takes tens of ms
 * of the event loop: before src/admin/metrics-pacing.ts, every request rendered, so clients in a
 * loop took the whole loop. Now requests share one render at a time, renders are paced to about a
 * tenth of the loop, and a full queue is a 503. A body is never older than its request: a reader
 * that reads, acts and reads again sees its action (an earlier bound reused the last body, and a
 * before/after check failed).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import pino from 'pino';
import type { FastifyInstance } from 'fastify';
import { buildAdminApp } from '../../src/admin/index.js';
import { metricsRoutes } from '../../src/admin/metrics-routes.js';
import {
  METRICS_MAX_PACE_MS,
  METRICS_MAX_WAITING,
  METRICS_MAX_WAITING_ENV,
  METRICS_RENDER_BURST_MS,
  METRICS_RENDER_RATIO,
  metricsMaxWaitingFromEnv,
  pacedRender,
  refusalLog,
} from '../../src/admin/metrics-pacing.js';
import { ServingState } from '../../src/app/serving-state.js';
import { PROMETHEUS_CONTENT_TYPE } from '../../src/telemetry/prometheus-registry.js';
import type { PacedRenderOptions } from '../../src/admin/metrics-pacing.js';

const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/**
 * A metrics reader over a counter: a render reads the counter when it starts (as a collection reads
 * instruments), then takes `costMs` on the fake clock over a few turns of the loop, like the
 * OpenTelemetry collection's awaits.
 */
function counterReader(clock: { t: number }, costMs: number) {
  const state = { counter: 0, renders: 0 };
  return {
    state,
    reader: {
      contentType: PROMETHEUS_CONTENT_TYPE,
      render: async () => {
        state.renders += 1;
        const value = state.counter;
        for (let i = 0; i < 3; i++) await tick();
        clock.t += costMs;
        return `actions_total ${value}\n`;
      },
    },
  };
}

/** Pacing on the fake clock: a wait moves the clock and resolves on the next turn. */
function fakeTime(clock: { t: number }): Required<Pick<PacedRenderOptions, 'now' | 'sleep'>> {
  return {
    now: () => clock.t,
    sleep: async (ms) => {
      await tick();
      clock.t += ms;
    },
  };
}

async function appWith(routes: Parameters<typeof buildAdminApp>[1]): Promise<FastifyInstance> {
  return buildAdminApp(new ServingState(), routes);
}

const valueOf = (body: string): number => Number(/actions_total (\d+)/.exec(body)![1]);

test('a reader that reads, acts and reads again sees its action every time, with a flood of other scrapes under way', async (t) => {
  const clock = { t: 0 };
  const { state, reader } = counterReader(clock, 8);
  const app = await appWith({ routes: [metricsRoutes(reader, { ...fakeTime(clock), maxWaiting: 10_000 })] });
  t.after(() => app.close());
  // Other clients scrape in a loop the whole time, so a render is nearly always under way or paced.
  let flooding = true;
  const flood = Array.from({ length: 8 }, async () => {
    while (flooding) assert.equal((await app.inject({ url: '/metrics' })).statusCode, 200);
  });
  try {
    for (let i = 0; i < 150; i++) {
      const before = valueOf((await app.inject({ url: '/metrics' })).body);
      state.counter += 1; // the action
      const after = valueOf((await app.inject({ url: '/metrics' })).body);
      assert.equal(after, state.counter, `iteration ${i}: the read after the action saw ${after}`);
      assert.ok(before < after);
    }
  } finally {
    flooding = false;
    await Promise.all(flood);
  }
  assert.ok(state.renders < 150 * 2 + 8 * 150, 'the flood shared renders');
});

test('every body is rendered after its request arrived (random arrivals, direct calls)', async () => {
  const clock = { t: 0 };
  let renders = 0;
  const body = pacedRender(
    async () => {
      const n = (renders += 1);
      await tick();
      clock.t += 5;
      return String(n);
    },
    { ...fakeTime(clock), maxWaiting: 1_000 },
  );
  const waits: Promise<void>[] = [];
  for (let i = 0; i < 400; i++) {
    const startedBefore = renders; // renders begun before this request arrived
    waits.push(body().then((b) => assert.ok(Number(b) > startedBefore, `request ${i} got render ${b.toString()}, begun before it (${startedBefore})`)));
    if (i % 7 === 0) await tick();
    if (i % 31 === 0) await Promise.all(waits);
  }
  await Promise.all(waits);
  assert.ok(renders < 400 / 4, `${renders} renders for 400 requests`);
});

test('N concurrent requests share renders: 50 requests, at most two renders, one body', async (t) => {
  const clock = { t: 0 };
  const { state, reader } = counterReader(clock, 64);
  const app = await appWith({ routes: [metricsRoutes(reader, fakeTime(clock))] });
  t.after(() => app.close());
  const replies = await Promise.all(Array.from({ length: 50 }, () => app.inject({ url: '/metrics' })));
  assert.ok(replies.every((r) => r.statusCode === 200 && r.headers['content-type'] === PROMETHEUS_CONTENT_TYPE));
  assert.ok(state.renders <= 2, `${state.renders} renders for 50 concurrent requests`);
  assert.ok(state.renders < 50);
});

test('a flood of 64 ms renders (5000 endpoints) renders at most about a tenth of the time, each waiting at most the ceiling', async () => {
  const clock = { t: 0 };
  let renders = 0;
  const body = pacedRender(
    async () => {
      renders += 1;
      await tick();
      clock.t += 64;
      return 'x\n';
    },
    { ...fakeTime(clock), maxWaiting: 1_000 },
  );
  let longest = 0;
  const client = async (): Promise<void> => {
    while (clock.t < 20_000) {
      const asked = clock.t;
      await body();
      longest = Math.max(longest, clock.t - asked);
    }
  };
  await Promise.all(Array.from({ length: 20 }, client));
  const rendering = renders * 64;
  assert.ok(rendering <= METRICS_RENDER_BURST_MS + clock.t / METRICS_RENDER_RATIO + 2 * 64, `${renders} renders: ${rendering} ms of ${clock.t} ms`);
  assert.ok(rendering >= clock.t / METRICS_RENDER_RATIO / 2, `not starved: ${rendering} ms of ${clock.t} ms`);
  assert.ok(longest <= METRICS_MAX_PACE_MS + 2 * 64, `a request waited ${longest} ms`);
});

test('scrapes close together start at once within the burst: a Prometheus pair and a before/after check are not delayed', async () => {
  const clock = { t: 0 };
  let renders = 0;
  const body = pacedRender(
    async () => {
      renders += 1;
      clock.t += 20;
      return 'x\n';
    },
    { now: () => clock.t, sleep: () => assert.fail('no request should wait') },
  );
  for (let i = 0; i < 4; i++) await body();
  assert.equal(renders, 4);
});

test('the queue is bounded: past it a 503 LIMIT_EXCEEDED with Retry-After, logged once per interval', async (t) => {
  const lines: { msg?: string; limit?: string; refused?: number }[] = [];
  const logger = pino({ level: 'info' }, { write: (l: string) => void lines.push(JSON.parse(l) as { msg?: string }) });
  let release!: () => void;
  const gate = new Promise<void>((resolve) => (release = resolve));
  let renders = 0;
  const reader = {
    contentType: PROMETHEUS_CONTENT_TYPE,
    render: async () => {
      renders += 1;
      await gate;
      return 'up 1\n';
    },
  };
  const app = await buildAdminApp(new ServingState(), { logger, routes: [metricsRoutes(reader, { maxWaiting: 3 })] });
  t.after(() => app.close());
  const served = [app.inject({ url: '/metrics' })]; // renders
  await tick();
  for (let i = 0; i < 3; i++) served.push(app.inject({ url: '/metrics' })); // wait for the next render
  await tick();
  const refused = await Promise.all(Array.from({ length: 5 }, () => app.inject({ url: '/metrics' })));
  for (const r of refused) {
    assert.equal(r.statusCode, 503);
    assert.ok(Number(r.headers['retry-after']) >= 1, `Retry-After: ${String(r.headers['retry-after'])}`);
    const body = r.json() as { error: { code: string; message: string } };
    assert.equal(body.error.code, 'LIMIT_EXCEEDED');
    assert.match(body.error.message, new RegExp(METRICS_MAX_WAITING_ENV));
  }
  const logged = lines.filter((l) => l.limit === METRICS_MAX_WAITING_ENV);
  assert.equal(logged.length, 1, 'five refusals, one log line');
  assert.match(logged[0]!.msg!, /3 requests already wait/);
  release();
  const ok = await Promise.all(served);
  assert.ok(ok.every((r) => r.statusCode === 200 && r.body === 'up 1\n'));
  assert.equal(renders, 2, 'the three that waited shared one render');
  assert.equal((await app.inject({ url: '/metrics' })).statusCode, 200, 'served again once the queue drained');
});

test('the refusal log writes at most one line per interval, with the count since the last', () => {
  const clock = { t: 0 };
  const lines: { fields: { refused?: number }; message: string }[] = [];
  const log = refusalLog({ warn: (fields, message) => lines.push({ fields, message }) }, 10_000, () => clock.t);
  const err = Object.assign(new Error('x'), { waiting: 3, retryAfterS: 1 }) as Parameters<typeof log>[0];
  for (let i = 0; i < 100; i++) {
    log(err);
    clock.t += 250; // 4 a second for 25 s
  }
  assert.equal(lines.length, 3);
  assert.deepEqual(lines.map((l) => l.fields.refused), [1, 40, 40]);
});

test('a failed render fails the requests sharing it; the next request renders again', async () => {
  let calls = 0;
  const body = pacedRender(() => {
    calls += 1;
    if (calls === 1) throw new Error('collect failed'); // at once, not even a promise
    return Promise.resolve('ok\n');
  });
  const results = await Promise.allSettled([body(), body(), body()]);
  assert.equal(results[0]!.status, 'rejected');
  assert.ok(calls <= 2);
  assert.equal((await body()).toString(), 'ok\n');
});

test(`${METRICS_MAX_WAITING_ENV} overrides the queue's bound; a malformed value is refused by name`, async () => {
  assert.equal(metricsMaxWaitingFromEnv({}), METRICS_MAX_WAITING);
  assert.equal(METRICS_MAX_WAITING, 256);
  assert.equal(metricsMaxWaitingFromEnv({ [METRICS_MAX_WAITING_ENV]: '8' }), 8);
  for (const bad of ['0', '-1', '1.5', 'many']) {
    assert.throws(() => metricsMaxWaitingFromEnv({ [METRICS_MAX_WAITING_ENV]: bad }), (e: { code?: string; message?: string }) => e.code === 'BAD_ARGUMENT' && e.message!.includes(METRICS_MAX_WAITING_ENV));
  }
  const saved = process.env[METRICS_MAX_WAITING_ENV];
  process.env[METRICS_MAX_WAITING_ENV] = 'x';
  try {
    await assert.rejects(buildAdminApp(new ServingState(), { readers: [{ metrics: { contentType: PROMETHEUS_CONTENT_TYPE, render: async () => '' } }] }), /KEYWAY_ADMIN_METRICS_MAX_WAITING/);
  } finally {
    if (saved === undefined) delete process.env[METRICS_MAX_WAITING_ENV];
    else process.env[METRICS_MAX_WAITING_ENV] = saved;
  }
});
