// Which scrapes make a window's load snapshot (docs/load-reports.md "source: prometheus"), against a
// real Prometheus holding scrapes at exact times (backfilled with promtool): three keyway replicas
// export the same windows, one with its clock 400 ms ahead (it switches windows just before the
// boundary; its first scrape of a window lacks the reports still arriving), one 1.5 s behind (past
// the margin the read allows). Every snapshot must hold its own window's figures, none of a
// neighbouring window's or a partial one's. Then: a read one window later asks Prometheus for the
// new step and the newest three it holds (to check them), and gives what a fresh read of the whole
// span gives.
import { describe, test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import type { LoadSnapshot } from '../src/core/load.js';
import { PrometheusLoadSource } from '../src/sources/load/index.js';
import { prometheusConfig, prometheusSkipReason, startRawPrometheus, type RawPrometheus } from './support/prometheus.js';

const skip = prometheusSkipReason();
const W = 10_000;
const SCRAPE_MS = 2_000;
/** Windows of history; the read spans the last READ of them. */
const WINDOWS = 14;
const READ = 6;
// Aligned to the window, two hours back: history Prometheus loads as blocks.
const T0 = Math.floor((Date.now() - 2 * 3_600_000) / W) * W;

/** Node n1's load in window i (from T0): falling, so a max over a mix of windows shows. */
const nodeLoad = (i: number): number => 1000 - i;
/** Shard 7's load in window i; and shard 100 + i % 3, hot in window i alone. */
const shardLoad = (i: number): number => 500 - i;
const hotShard = (i: number): number => 100 + (i % 3);

interface Replica {
  readonly instance: string;
  /** The replica's clock minus Prometheus's. */
  readonly skewMs: number;
  /** Where in the scrape interval Prometheus scrapes it. */
  readonly phaseMs: number;
}
const REPLICAS: readonly Replica[] = [
  { instance: 'keyway-0:9000', skewMs: 0, phaseMs: 500 },
  // Scraped 300 ms before each boundary, by its clock 100 ms after it.
  { instance: 'keyway-1:9000', skewMs: 400, phaseMs: 1_700 },
  { instance: 'keyway-2:9000', skewMs: -1_500, phaseMs: 1_100 },
];

/** What a replica exports at its clock `at`: the last closed window, partial within 200 ms of its end (reports still arriving). */
function exported(at: number): { i: number; partial: boolean } {
  const start = Math.floor(at / W) * W - W;
  return { i: (start - T0) / W, partial: at - (start + W) < 200 };
}

function history(): string {
  const samples = new Map<string, [string, string, number][]>();
  const add = (family: string, labels: string, value: number, t: number): void => {
    const list = samples.get(family) ?? [];
    list.push([labels, String(value), t]);
    samples.set(family, list);
  };
  for (const r of REPLICAS) {
    for (let t = T0 + r.phaseMs; t < T0 + WINDOWS * W; t += SCRAPE_MS) {
      const { i, partial } = exported(t + r.skewMs);
      if (i < 0) continue;
      const base = `instance="${r.instance}",job="keyway"`;
      const part = partial ? 0.5 : 1;
      add('keyway_load_window_start_seconds', `{${base}}`, (T0 + i * W) / 1000, t);
      add('keyway_load_node_requests_per_second', `{${base},node="n1"}`, nodeLoad(i) * part, t);
      add('keyway_load_shard_requests_per_second', `{${base},shard="7"}`, shardLoad(i) * part, t);
      add('keyway_load_shard_requests_per_second', `{${base},shard="${hotShard(i)}"}`, 50 * part, t);
    }
  }
  const lines: string[] = [];
  for (const [family, list] of samples) {
    lines.push(`# TYPE ${family} gauge`);
    // Grouped by series, each in time order, as promtool wants.
    const bySeries = new Map<string, [string, string, number][]>();
    for (const s of list) bySeries.set(s[0], [...(bySeries.get(s[0]) ?? []), s]);
    for (const [labels, series] of bySeries) for (const [, v, t] of series.sort((a, b) => a[2] - b[2])) lines.push(`${family}${labels} ${v} ${(t / 1000).toFixed(3)}`);
  }
  return `${lines.join('\n')}\n# EOF\n`;
}

/** The snapshot window i must give. */
function expected(i: number): LoadSnapshot {
  return {
    windowStartMs: T0 + i * W,
    windowMs: W,
    shards: [{ shard: 7, requests: shardLoad(i) }, { shard: hotShard(i), requests: 50 }],
    nodes: [{ nodeId: 'n1', requests: nodeLoad(i) }],
  };
}

describe('load snapshots from Prometheus: each window from its own scrapes', { skip }, () => {
  let prometheus: RawPrometheus;
  before(async () => {
    prometheus = await startRawPrometheus({ config: prometheusConfig([]), openMetrics: history() });
  });
  after(() => prometheus?.stop());

  /** A source reading at `now` (lagMs 0), counting the steps it asks Prometheus for. */
  const source = (now: () => number, steps: number[]): PrometheusLoadSource =>
    new PrometheusLoadSource({
      url: prometheus.url,
      lagMs: 0,
      windowMs: () => W,
      now,
      fetch: ((input: string | URL | Request, init?: RequestInit) => {
        const q = new URL(String(input)).searchParams;
        steps.push(Math.round((Number(q.get('end')) - Number(q.get('start'))) / (W / 1000)) + 1);
        return fetch(input, init);
      }) as typeof fetch,
    });

  test('a replica whose clock is ahead or behind, or a scrape near a window boundary, mixes no window into another', async () => {
    // The step at T0 + 12W reads window 10.
    const steps: number[] = [];
    const src = source(() => T0 + 12 * W + 1, steps);
    try {
      const got = await src.latest(READ);
      assert.deepEqual(got.map((s) => (s.windowStartMs - T0) / W), [5, 6, 7, 8, 9, 10], 'one window per step, two windows before it');
      assert.deepEqual(got, [5, 6, 7, 8, 9, 10].map(expected));
    } finally {
      await src.close();
    }
  });

  test('a read one window later asks for the new step (and the three before) and gives what a whole read gives', async () => {
    const k = 12;
    let now = T0 + k * W + 1;
    const steps: number[] = [];
    const held = source(() => now, steps);
    const freshSteps: number[] = [];
    const fresh = source(() => now, freshSteps);
    try {
      await held.latest(READ);
      assert.deepEqual(steps, [READ]);
      now += W;
      const next = await held.latest(READ);
      assert.deepEqual(steps, [READ, 4], 'the second read asked for the new step and the three before it');
      assert.deepEqual(next, await fresh.latest(READ));
      assert.deepEqual(freshSteps, [READ]);
      assert.deepEqual(next, [k - 6, k - 5, k - 4, k - 3, k - 2, k - 1].map(expected));
    } finally {
      await held.close();
      await fresh.close();
    }
  });
});

// A window that is not a whole number of seconds (the settings allow any ms from 1000): the read's
// step must be exactly the window. Sent as `1.001`, Prometheus took it for 1000 ms, so every step
// after the first of each query fell off the window grid and its window was not read.
describe('load snapshots from Prometheus: a window of 1001 ms', { skip }, () => {
  const W1 = 1_001;
  const T1 = Math.floor((Date.now() - 2 * 3_600_000) / W1) * W1;
  const N = 20;
  let prometheus: RawPrometheus;
  before(async () => {
    const windowLines = ['# TYPE keyway_load_window_start_seconds gauge'];
    const nodeLines = ['# TYPE keyway_load_node_requests_per_second gauge'];
    // One replica, scraped every 300 ms; it exports the last closed window.
    for (let t = T1 + 7; t < T1 + N * W1; t += 300) {
      const start = Math.floor(t / W1) * W1 - W1;
      if (start < T1) continue;
      const base = 'instance="keyway-0:9000",job="keyway"';
      windowLines.push(`keyway_load_window_start_seconds{${base}} ${start / 1000} ${(t / 1000).toFixed(3)}`);
      nodeLines.push(`keyway_load_node_requests_per_second{${base},node="n1"} ${1000 - (start - T1) / W1} ${(t / 1000).toFixed(3)}`);
    }
    prometheus = await startRawPrometheus({ config: prometheusConfig([]), openMetrics: `${windowLines.join('\n')}\n${nodeLines.join('\n')}\n# EOF\n` });
  });
  after(() => prometheus?.stop());

  test('every step of a read gives its window', async () => {
    const src = new PrometheusLoadSource({ url: prometheus.url, lagMs: 0, windowMs: () => W1, now: () => T1 + (N - 1) * W1 + 1 });
    try {
      // Steps T1 + 3 W1 ... T1 + 19 W1 (three queries): windows 1 to 17.
      const got = await src.latest(N - 3);
      assert.deepEqual(
        got.map((s) => [(s.windowStartMs - T1) / W1, s.nodes[0]?.requests]),
        Array.from({ length: N - 3 }, (_, k) => [k + 1, 1000 - (k + 1)]),
      );
    } finally {
      await src.close();
    }
  });
});

// Target labels (docs/load-reports.md "source: prometheus"): two replicas told apart by a `node`
// target label alone (no `instance`), so their node gauges carry it and keep keyway's label as
// `exported_node`. One replica names the window before (a stale export, 999 rps); the other names
// the window read (10 rps). Matched ignoring `node` as well as `exported_node`, the stale replica's
// figures were read into the window.
describe('load snapshots from Prometheus: replicas told apart by a target label named like a load label', { skip }, () => {
  const T2 = Math.floor((Date.now() - 2 * 3_600_000) / W) * W;
  const N = 10;
  let prometheus: RawPrometheus;
  before(async () => {
    const lines = new Map<string, string[]>();
    const add = (family: string, line: string): void => void lines.set(family, [...(lines.get(family) ?? [`# TYPE ${family} gauge`]), line]);
    for (const [k8s, behind, load] of [['k8s-a', 0, 10], ['k8s-b', 1, 999]] as const) {
      for (let t = T2 + 500; t < T2 + N * W; t += SCRAPE_MS) {
        const start = Math.floor(t / W) * W - W - behind * W;
        if (start < T2) continue;
        const at = (t / 1000).toFixed(3);
        add('keyway_load_window_start_seconds', `keyway_load_window_start_seconds{job="keyway",node="${k8s}"} ${start / 1000} ${at}`);
        add('keyway_load_node_requests_per_second', `keyway_load_node_requests_per_second{job="keyway",node="${k8s}",exported_node="n1"} ${load} ${at}`);
        add('keyway_load_shard_requests_per_second', `keyway_load_shard_requests_per_second{job="keyway",node="${k8s}",shard="3"} ${load} ${at}`);
      }
    }
    prometheus = await startRawPrometheus({ config: prometheusConfig([]), openMetrics: `${[...lines.values()].flat().join('\n')}\n# EOF\n` });
  });
  after(() => prometheus?.stop());

  test('only the replica that names the window gives its figures', async () => {
    const src = new PrometheusLoadSource({ url: prometheus.url, lagMs: 0, windowMs: () => W, now: () => T2 + (N - 1) * W + 1 });
    try {
      const got = await src.latest(5);
      assert.deepEqual(
        got.map((s) => [(s.windowStartMs - T2) / W, s.nodes, s.shards]),
        [3, 4, 5, 6, 7].map((i) => [i, [{ nodeId: 'n1', requests: 10 }], [{ shard: 3, requests: 10 }]]),
      );
    } finally {
      await src.close();
    }
  });
});
