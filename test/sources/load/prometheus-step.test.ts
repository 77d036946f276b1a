// The query_range `step` the prometheus load source sends is read by Prometheus as exactly the
// window (docs/load-reports.md "source: prometheus"). Prometheus's HTTP API reads a number as float
// seconds truncated to whole ns, and its engine steps in whole ms: `1.001` became a step of 1000 ms,
// so the steps after a query's first fell off the window grid and their windows were lost. The fake
// below parses the step as Prometheus 2.42 does (web/api/v1 parseDuration); the real one:
// e2e/prometheus-load-windows.test.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PrometheusLoadSource } from '../../../src/sources/load/prometheus.js';

/** Prometheus's reading of a `step` parameter, in ms. */
function promStepMs(text: string): number {
  const asFloat = Number(text);
  if (text !== '' && Number.isFinite(asFloat)) return Math.floor(Math.trunc(asFloat * 1e9) / 1e6);
  const m = /^(\d+)(ms|s)$/.exec(text);
  assert.ok(m, `a step Prometheus reads: ${text}`);
  return Number(m[1]) * (m[2] === 's' ? 1000 : 1);
}

for (const W of [1_001, 1_500, 2_002, 10_000]) {
  test(`a window of ${W} ms: every step of a read is on the window grid and gives its window`, async () => {
    const T0 = Math.floor(1_700_000_000_000 / W) * W;
    const asked: number[] = [];
    const fetchFn = (async (input: string | URL | Request) => {
      const q = new URL(String(input)).searchParams;
      const from = Math.round(Number(q.get('start')) * 1000);
      const to = Math.round(Number(q.get('end')) * 1000);
      const step = promStepMs(q.get('step')!);
      asked.push(step);
      const values: [number, string][] = [];
      for (let t = from; t <= to; t += step) values.push([t / 1000, String((t - 2 * W) / 1000)]);
      const nodes: [number, string][] = values.map(([t]) => [t, '5']);
      return new Response(JSON.stringify({ status: 'success', data: { resultType: 'matrix', result: [{ metric: { load: 'window' }, values }, { metric: { node: 'n1' }, values: nodes }] } }));
    }) as typeof fetch;
    const src = new PrometheusLoadSource({ url: 'http://prometheus.test', lagMs: 0, windowMs: () => W, now: () => T0 + 30 * W + 1, fetch: fetchFn });
    try {
      const got = await src.latest(20);
      assert.ok(asked.every((s) => s === W), `Prometheus stepped by ${asked.join(', ')} ms`);
      assert.deepEqual(got.map((s) => (s.windowStartMs - T0) / W), Array.from({ length: 20 }, (_, k) => 9 + k));
    } finally {
      await src.close();
    }
  });
}
