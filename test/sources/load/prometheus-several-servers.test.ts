// Several Prometheus servers behind one URL without deduplication (docs/load-reports.md "source:
// prometheus"): an HA pair behind a Service answers a step differently now and then (one server
// missed a scrape). A held step whose answer goes back to one given before names the pair once;
// the read that names it reads the span once more and merges it into the held steps (before, the
// steps older than the checks stayed one server's view for as long as the span); from then on a
// changed answer is merged into the held step (the max of both), not a reason to read the span
// again. One Prometheus that loses its data changes a step once, never back: it is
// still read again whole. The real servers: e2e/prometheus-load-ha-pair.test.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mergeSteps, PrometheusLoadSource, PROMETHEUS_MAX_STEPS_PER_QUERY, type LoadStep } from '../../../src/sources/load/prometheus.js';
import { MAX_SNAPSHOT_SHARDS } from '../../../src/sources/load/aggregate.js';
import { RangeSeriesBuilder, type RangeSeries } from './range-series.js';

const W = 10_000;
const T0 = 1_700_000_000_000;
const SPAN = 20;
const LAG = 30_000;

/** Step t's answer from `server`: B misses node c's figure in every third window, and lowers shard 5 there. */
function series(from: number, to: number, server: 'A' | 'B' | number): RangeSeries[] {
  const out = new RangeSeriesBuilder();
  const add = out.add.bind(out);
  for (let t = from; t <= to; t += W) {
    const i = (t - T0) / W;
    const missed = server === 'B' && i % 3 === 0;
    add('w', { load: 'window' }, t, (t - 2 * W) / 1000);
    add('s5', { shard: '5' }, t, missed ? 10 : 20 + i);
    add('na', { node: 'a' }, t, 100 + i + (typeof server === 'number' ? server : 0));
    if (!missed) add('nc', { node: 'c' }, t, 7);
  }
  return out.series();
}

/** A fetch whose answers come from `server()` at each call, recording the steps of each query. */
function prometheus(server: () => 'A' | 'B' | number, queries: number[]): typeof fetch {
  return (async (input: string | URL | Request) => {
    const q = new URL(String(input)).searchParams;
    const from = Number(q.get('start')) * 1000;
    const to = Number(q.get('end')) * 1000;
    queries.push((to - from) / W + 1);
    return new Response(JSON.stringify({ status: 'success', data: { resultType: 'matrix', result: series(from, to, server()) } }));
  }) as typeof fetch;
}

/** The figures of a read's snapshots by window index, for comparison. */
const figures = (s: readonly { windowStartMs: number; shards: readonly { shard: number; requests: number }[]; nodes: readonly { nodeId: string; requests: number }[] }[]): string[] =>
  s.map((x) => `${(x.windowStartMs - T0) / W}:${x.shards.map((v) => `s${v.shard}=${v.requests}`).join('/')}:${x.nodes.map((n) => `${n.nodeId}=${n.requests}`).join('/')}`);

test('servers taking turns: the pair is named once, no read asks for the span again, and held windows hold the max of both answers', async () => {
  let now = T0 + 10 * W + LAG + 1;
  let turn = 0;
  const queries: number[] = [];
  const named: string[] = [];
  // Each read is one connection, and the balancer gives each the next server.
  let server: 'A' | 'B' = 'A';
  const src = new PrometheusLoadSource({ url: 'http://prometheus.test', lagMs: LAG, windowMs: () => W, now: () => now, fetch: prometheus(() => server, queries), onSeveralServers: (e) => named.push(e.message), onError: () => undefined });
  const maxView = new PrometheusLoadSource({ url: 'http://a.test', lagMs: LAG, windowMs: () => W, now: () => now, fetch: prometheus(() => 'A', []) });
  try {
    let wholeAfterNamed = 0;
    for (let k = 0; k < 2 * SPAN; k++) {
      server = turn++ % 2 === 0 ? 'A' : 'B';
      const wasNamed = named.length > 0;
      queries.length = 0;
      const got = figures(await src.latest(SPAN));
      if (wasNamed && queries.some((n) => n > PROMETHEUS_MAX_STEPS_PER_QUERY)) wholeAfterNamed++;
      if (wasNamed && queries.length > 1) wholeAfterNamed++;
      if (k >= SPAN + 4) {
        // The pair is named within a few reads; since then every window was first read after it,
        // and every one but the newest was asked for on a read of each server.
        const want = figures(await maxView.latest(SPAN));
        assert.deepEqual(got.slice(0, -1), want.slice(0, -1), `read ${k}: every held window is the max over both servers`);
      }
      now += W;
    }
    assert.equal(named.length, 1, 'named once');
    assert.match(named[0]!, /several Prometheus servers answer at this URL without deduplication .* point hotShards\.snapshot\.url at one server of the pair, or at a querier that deduplicates the pair/);
    assert.equal(wholeAfterNamed, 0, 'once named, each read is one query of the new step and the newest held ones');
  } finally {
    await src.close();
    await maxView.close();
  }
});

test('one Prometheus that loses its data twice is read again whole each time and is not taken for a pair', async () => {
  let now = T0 + 10 * W + LAG + 1;
  let era = 0;
  const queries: number[] = [];
  const named: string[] = [];
  const src = new PrometheusLoadSource({ url: 'http://prometheus.test', lagMs: LAG, windowMs: () => W, now: () => now, fetch: prometheus(() => era, queries), onSeveralServers: (e) => named.push(e.message) });
  try {
    await src.latest(SPAN);
    for (const next of [1, 1, 2, 2, 2]) {
      const changed = next !== era;
      era = next;
      now += W;
      queries.length = 0;
      await src.latest(SPAN);
      assert.equal(queries.reduce((a, b) => a + b, 0) > PROMETHEUS_MAX_STEPS_PER_QUERY, changed, changed ? 'a changed answer reads the span again' : 'an unchanged one does not');
    }
    assert.deepEqual(named, []);
  } finally {
    await src.close();
  }
});

test('two answers of a step merge alike in either order: the max per shard and node, the widest shard-count range, the hottest shards', () => {
  const a: LoadStep = { windowStartMs: T0, minShards: 64, maxShards: 64, shards: [{ shard: 1, requests: 5 }, { shard: 2, requests: 9 }], nodes: [{ nodeId: 'a', requests: 3 }, { nodeId: 'c', requests: 1 }] };
  const b: LoadStep = { windowStartMs: T0, minShards: 32, maxShards: 64, shards: [{ shard: 1, requests: 8 }, { shard: 3, requests: 1 }], nodes: [{ nodeId: 'b', requests: 4 }, { nodeId: 'c', requests: 2 }] };
  const want: LoadStep = {
    windowStartMs: T0,
    minShards: 32,
    maxShards: 64,
    shards: [{ shard: 1, requests: 8 }, { shard: 2, requests: 9 }, { shard: 3, requests: 1 }],
    nodes: [{ nodeId: 'a', requests: 3 }, { nodeId: 'b', requests: 4 }, { nodeId: 'c', requests: 2 }],
  };
  assert.deepEqual(mergeSteps(a, b), want);
  assert.deepEqual(mergeSteps(b, a), want);
  // A step without a window (one server missed every scrape of it) takes the other's.
  assert.deepEqual(mergeSteps({ shards: [], nodes: [] }, a), a);
  // Capped like any snapshot: the hottest MAX_SNAPSHOT_SHARDS of the union.
  const many = (from: number): LoadStep => ({ shards: Array.from({ length: MAX_SNAPSHOT_SHARDS }, (_, i) => ({ shard: from + i, requests: from + i + 1 })), nodes: [] });
  const merged = mergeSteps(many(0), many(MAX_SNAPSHOT_SHARDS));
  assert.equal(merged.shards.length, MAX_SNAPSHOT_SHARDS);
  assert.equal(merged.shards[0]!.shard, MAX_SNAPSHOT_SHARDS);
});

test('the read that names the pair reads the span once more and merges it: the windows read whole from one server before are the max of both, and replicas agree on them', async () => {
  const span = 77;
  let now = T0 + 100 * W + LAG + 1;
  // Each replica's reads reach the servers in turn, from opposite ends: the first ends up holding
  // B's view of the span from the re-read before the pair is named, the second A's.
  const turns: ('A' | 'B')[][] = [['A', 'B'], ['B', 'A']];
  let k = 0;
  const queries: number[][] = [[], []];
  const named = [0, 0];
  const replicas = [0, 1].map((r) => new PrometheusLoadSource({ url: 'http://prometheus.test', lagMs: LAG, windowMs: () => W, now: () => now, fetch: prometheus(() => turns[r]![k % 2]!, queries[r]!), onSeveralServers: () => named[r]!++, onError: () => undefined }));
  const maxView = new PrometheusLoadSource({ url: 'http://a.test', lagMs: LAG, windowMs: () => W, now: () => now, fetch: prometheus(() => 'A', []) });
  try {
    let namedAt: number | undefined;
    for (; k < 12; k++) {
      const got = await Promise.all(replicas.map((r) => r.latest(span)));
      if (namedAt === undefined && named.every((n) => n > 0)) namedAt = k;
      if (namedAt !== undefined && k > namedAt) {
        const want = figures(await maxView.latest(span)).slice(0, -PROMETHEUS_MAX_STEPS_PER_QUERY);
        // The windows older than the checks: asked for on no read since the span was read whole.
        for (const [r, g] of got.entries()) assert.deepEqual(figures(g).slice(0, -PROMETHEUS_MAX_STEPS_PER_QUERY), want, `read ${k}, replica ${r}: every older window is the max over both servers`);
        for (const q of queries) assert.deepEqual(q.slice(-1), [PROMETHEUS_MAX_STEPS_PER_QUERY], 'once named, one query per read');
      }
      now += W;
    }
    assert.ok(namedAt !== undefined && namedAt < 6, `both replicas named the pair within a few reads (${namedAt})`);
    assert.deepEqual(named, [1, 1]);
  } finally {
    for (const r of replicas) await r.close();
    await maxView.close();
  }
});

test('a read of the span to merge that fails is done again by the next read', async () => {
  const span = 77;
  let now = T0 + 100 * W + LAG + 1;
  // A, then B (its answers differ: the span is read again from B), then A again (the pair named;
  // the span's merge read fails), then A (the merge read again).
  const servers: ('A' | 'B')[] = ['A', 'B', 'A', 'A', 'B', 'A'];
  let k = 0;
  let named = false;
  let failed = 0;
  const answer = prometheus(() => servers[k]!, []);
  const src = new PrometheusLoadSource({
    url: 'http://prometheus.test',
    lagMs: LAG,
    windowMs: () => W,
    now: () => now,
    onSeveralServers: () => (named = true),
    onError: () => undefined,
    fetch: ((input: string | URL | Request) => {
      if (named && failed++ === 0) return Promise.resolve(new Response('{"status":"error","errorType":"timeout","error":"query timed out"}', { status: 503 }));
      return answer(input);
    }) as typeof fetch,
  });
  const maxView = new PrometheusLoadSource({ url: 'http://a.test', lagMs: LAG, windowMs: () => W, now: () => now, fetch: prometheus(() => 'A', []) });
  try {
    const outcomes: string[] = [];
    for (; k < servers.length; k++) {
      const got = await src.latest(span).then(figures, (e: Error) => e.message);
      outcomes.push(typeof got === 'string' ? 'failed' : 'read');
      if (k >= 3) assert.deepEqual((got as string[]).slice(0, -PROMETHEUS_MAX_STEPS_PER_QUERY), figures(await maxView.latest(span)).slice(0, -PROMETHEUS_MAX_STEPS_PER_QUERY), `read ${k}: every older window is the max over both servers`);
      now += W;
    }
    assert.deepEqual(outcomes, ['read', 'read', 'failed', 'read', 'read', 'read']);
  } finally {
    await src.close();
    await maxView.close();
  }
});
