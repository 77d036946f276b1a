// The prometheus load source keeps the steps it read (docs/load-reports.md "source: prometheus"): a
// step at or before now - lagMs does not change, so each read asks Prometheus only for the steps
// it lacks (and the newest ones it holds, to check they still stand), in slices of at most
// PROMETHEUS_MAX_STEPS_PER_QUERY, and gives what one query over the whole span gives. The real
// Prometheus: e2e/prometheus-load-windows.test.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PrometheusLoadSource, PROMETHEUS_CHECKED_STEPS, PROMETHEUS_MAX_STEPS_PER_QUERY, snapshotsFromMatrix } from '../../../src/sources/load/prometheus.js';
import { RangeSeriesBuilder, type RangeSeries } from './range-series.js';

const W = 10_000;
const T0 = 1_700_000_000_000;
const SPAN = 77;

/**
 * What Prometheus answers at step t (ms): the window two before it, 40 shards and 3 nodes whose
 * loads depend on it (and on `era`: another Prometheus's data).
 */
function series(from: number, to: number, era = 0): RangeSeries[] {
  const out = new RangeSeriesBuilder();
  const add = out.add.bind(out);
  for (let t = from; t <= to; t += W) {
    const i = (t - T0) / W;
    add('w', { load: 'window' }, t, (t - 2 * W) / 1000);
    for (let k = 0; k < 40; k++) add(`s${(i + k) % 300}`, { shard: String((i + k) % 300) }, t, 1 + ((i * 7 + k) % 50));
    for (const n of ['a', 'b', 'c']) add(`n${n}`, { node: n }, t, 100 + i + n.charCodeAt(0) + era);
  }
  return out.series();
}

function prometheus(queries: { steps: number }[], fail: () => boolean = () => false, era: () => number = () => 0): typeof fetch {
  return (async (input: string | URL | Request) => {
    const q = new URL(String(input)).searchParams;
    const from = Number(q.get('start')) * 1000;
    const to = Number(q.get('end')) * 1000;
    assert.equal(Number(q.get('step')) * 1000, W);
    queries.push({ steps: (to - from) / W + 1 });
    if (fail()) return new Response('{"status":"error","errorType":"timeout","error":"query timed out"}', { status: 503 });
    return new Response(JSON.stringify({ status: 'success', data: { resultType: 'matrix', result: series(from, to, era()) } }), { status: 200 });
  }) as typeof fetch;
}

function source(now: () => number, queries: { steps: number }[], fail?: () => boolean, era?: () => number): PrometheusLoadSource {
  return new PrometheusLoadSource({ url: 'http://prometheus.test', lagMs: 30_000, windowMs: () => W, now, fetch: prometheus(queries, fail, era), onError: () => undefined });
}

/** The snapshots one query over the whole span gives, read at `now`. */
function whole(now: number, era = 0): ReturnType<typeof snapshotsFromMatrix> {
  const end = Math.floor((now - 30_000) / W) * W;
  return snapshotsFromMatrix(series(end - (SPAN - 1) * W, end, era), W, { notAfterMs: end + 30_000 });
}

test('a first read asks for the span in slices; the next window\'s read asks for its new step and the three before; both give the whole read\'s snapshots', async () => {
  let now = T0 + 5 * W + 30_000 + 1;
  const queries: { steps: number }[] = [];
  const src = source(() => now, queries);
  try {
    const first = await src.latest(SPAN);
    assert.deepEqual(queries.map((q) => q.steps), [8, 8, 8, 8, 8, 8, 8, 8, 8, 5]);
    assert.ok(queries.every((q) => q.steps <= PROMETHEUS_MAX_STEPS_PER_QUERY));
    assert.equal(first.length, SPAN);
    assert.deepEqual(first, whole(now));
    for (let k = 1; k <= 3; k++) {
      queries.length = 0;
      now += W;
      const next = await src.latest(SPAN);
      assert.deepEqual(queries.map((q) => q.steps), [1 + PROMETHEUS_CHECKED_STEPS], `read ${k} asks for the new step and the newest held ones`);
      assert.deepEqual(next, whole(now));
    }
    // Within the same window nothing new: no query at all.
    queries.length = 0;
    now += W / 2;
    assert.deepEqual(await src.latest(SPAN), whole(now));
    assert.deepEqual(queries, []);
  } finally {
    await src.close();
  }
});

test('a held step that Prometheus now answers otherwise (restarted without its data) drops every held step: the span is read whole', async () => {
  let now = T0 + 5 * W + 30_000 + 1;
  let era = 0;
  const queries: { steps: number }[] = [];
  const src = source(() => now, queries, undefined, () => era);
  try {
    await src.latest(SPAN);
    era = 1;
    queries.length = 0;
    now += W;
    assert.deepEqual(await src.latest(SPAN), whole(now, 1));
    assert.deepEqual(queries.map((q) => q.steps), [4, 8, 8, 8, 8, 8, 8, 8, 8, 8, 1], 'the checks, then the other 73 steps');
  } finally {
    await src.close();
  }
});

test('a read that fails in its third slice keeps the two slices read: the next read asks for the rest', async () => {
  const now = T0 + 5 * W + 30_000 + 1;
  const queries: { steps: number }[] = [];
  let failed = false;
  const src = source(() => now, queries, () => !failed && queries.length === 3 && (failed = true));
  try {
    await assert.rejects(src.latest(SPAN), /HTTP 503/);
    assert.deepEqual(queries.map((q) => q.steps), [8, 8, 8]);
    queries.length = 0;
    assert.deepEqual(await src.latest(SPAN), whole(now));
    assert.deepEqual(queries.map((q) => q.steps), [8, 8, 8, 8, 8, 8, 8, 8], 'the three newest held steps and the 61 after them');
  } finally {
    await src.close();
  }
});

test('a failed read keeps the steps held; a longer span asks for the older steps it lacks', async () => {
  let now = T0 + 5 * W + 30_000 + 1;
  const queries: { steps: number }[] = [];
  let failing = false;
  const src = source(() => now, queries, () => failing);
  try {
    await src.latest(10);
    failing = true;
    now += W;
    await assert.rejects(src.latest(10), /HTTP 503: timeout: query timed out/);
    failing = false;
    queries.length = 0;
    now += W;
    const after = await src.latest(10);
    assert.deepEqual(queries.map((q) => q.steps), [5], 'the three newest held steps and the two not read yet');
    assert.equal(after.length, 10);
    queries.length = 0;
    const longer = await src.latest(12);
    assert.deepEqual(queries.map((q) => q.steps), [2], 'the two older steps');
    assert.deepEqual(longer.slice(2), after);
  } finally {
    await src.close();
  }
});

test('a read that finds a held step changed and then fails in a later slice keeps none of the held steps: the next read gives the whole read\'s snapshots', async () => {
  let now = T0 + 5 * W + 30_000 + 1;
  let era = 0;
  const queries: { steps: number }[] = [];
  let failed = false;
  const src = source(() => now, queries, () => era === 1 && !failed && queries.length === 2 && (failed = true), () => era);
  try {
    await src.latest(SPAN);
    // Ten windows later, from a Prometheus that lost its data: the three checks and the 5 steps
    // after them are answered, the slice of the other 5 is not.
    era = 1;
    now += 10 * W;
    queries.length = 0;
    await assert.rejects(src.latest(SPAN), /HTTP 503/);
    assert.deepEqual(queries.map((q) => q.steps), [8, 5]);
    const next = await src.latest(SPAN);
    assert.equal(next.length, SPAN);
    assert.deepEqual(next, whole(now, 1), 'no step of the lost data is given beside the new ones');
  } finally {
    await src.close();
  }
});

test('held steps whose newest are empty (no load) are still checked: a Prometheus that lost the older ones drops them', async () => {
  const start0 = T0 + 10 * W;
  // Steps from quietFrom name no window (the nodes sent no reports); with `lost`, Prometheus has
  // nothing before `lostBefore` (restarted without its data).
  const quietFrom = start0 + 7 * W;
  let lost = false;
  const lostBefore = start0 + 20 * W;
  const queries: { steps: number }[] = [];
  const fetchFn = (async (input: string | URL | Request) => {
    const q = new URL(String(input)).searchParams;
    const from = Number(q.get('start')) * 1000;
    const to = Number(q.get('end')) * 1000;
    queries.push({ steps: (to - from) / W + 1 });
    const window: [number, string][] = [];
    const node: [number, string][] = [];
    for (let t = from; t <= to; t += W) {
      if (t >= quietFrom || (lost && t < lostBefore)) continue;
      window.push([t / 1000, String((t - 2 * W) / 1000)]);
      node.push([t / 1000, String((t - T0) / W)]);
    }
    const result = [{ metric: { load: 'window' }, values: window }, { metric: { node: 'a' }, values: node }];
    return new Response(JSON.stringify({ status: 'success', data: { resultType: 'matrix', result } }));
  }) as typeof fetch;
  let now = start0 + 9 * W + 30_000 + 1;
  const make = (): PrometheusLoadSource => new PrometheusLoadSource({ url: 'http://prometheus.test', lagMs: 30_000, windowMs: () => W, now: () => now, fetch: fetchFn });
  const held = make();
  try {
    const first = await held.latest(10);
    assert.equal(first.length, 7, 'seven windows, then three steps without one');
    lost = true;
    now += W;
    queries.length = 0;
    const fresh = make();
    try {
      const whole = await fresh.latest(10);
      assert.deepEqual(whole, [], 'Prometheus holds none of these windows now');
      assert.deepEqual(await held.latest(10), whole, 'the replica holding steps reads what a whole read gives');
    } finally {
      await fresh.close();
    }
  } finally {
    await held.close();
  }
});
