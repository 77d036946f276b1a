// A rolling change of hotShards.windowMs (docs/load-reports.md "source: prometheus"), against a real
// Prometheus backfilled with promtool: one keyway replica already runs windows of 10.4 s, the other
// still runs windows of 10 s (and holds the reports of the nodes still on 10 s, which the first
// refuses). Every 25th window of 10.4 s starts where a window of 10 s starts (a multiple of
// 260 s), and the old replica names that start for most of the range the read looks at: its
// figures must not be read as the new length's window.
import { describe, test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { PrometheusLoadSource } from '../src/sources/load/index.js';
import { prometheusConfig, prometheusSkipReason, startRawPrometheus, type RawPrometheus } from './support/prometheus.js';
import { GaugeHistory } from './support/gauge-history.js';

const skip = prometheusSkipReason();
const OLD_W = 10_000;
const NEW_W = 10_400;
/** The least common multiple of both lengths: window starts of both lengths coincide every 260 s. */
const BOTH = 260_000;
const SCRAPE_MS = 2_000;
const STEPS = 30;
const T0 = Math.floor((Date.now() - 3 * 3_600_000) / BOTH) * BOTH;

function history(): string {
  const gauges = new GaugeHistory();
  const add = gauges.add.bind(gauges);
  // Each replica exports the last closed window of its own length, with the nodes it accepts.
  const replicas = [
    { instance: 'keyway-new:9000', w: NEW_W, node: 'n-new', load: 10, phaseMs: 500 },
    { instance: 'keyway-old:9000', w: OLD_W, node: 'n-old', load: 999, phaseMs: 1_300 },
  ];
  for (const r of replicas) {
    const base = `instance="${r.instance}",job="keyway"`;
    const scrapes: { t: number; start: number }[] = [];
    for (let t = T0 + r.w + r.phaseMs; t < T0 + (STEPS + 1) * NEW_W; t += SCRAPE_MS) scrapes.push({ t, start: Math.floor(t / r.w) * r.w - r.w });
    for (const s of scrapes) add('keyway_load_window_start_seconds', base, s.start / 1000, s.t);
    for (const s of scrapes) add('keyway_load_node_requests_per_second', `${base},node="${r.node}"`, r.load, s.t);
    for (const s of scrapes) add('keyway_load_shard_requests_per_second', `${base},shard="3"`, r.load, s.t);
  }
  return gauges.text();
}

describe('load snapshots from Prometheus while replicas switch the window length', { skip }, () => {
  let prometheus: RawPrometheus;
  before(async () => {
    prometheus = await startRawPrometheus({ config: prometheusConfig([]), openMetrics: history() });
  });
  after(() => prometheus?.stop());

  test('a window of the old length that starts where one of the new length does is not read as it', async () => {
    const src = new PrometheusLoadSource({ url: prometheus.url, lagMs: 0, windowMs: () => NEW_W, now: () => T0 + STEPS * NEW_W + 1 });
    try {
      // Steps T0 + 5 W ... T0 + 30 W: windows T0 + 3 W ... T0 + 28 W, T0 + 25 W being T0 + 260 s.
      const got = await src.latest(STEPS - 4);
      assert.ok(got.some((s) => s.windowStartMs === T0 + BOTH), 'the window at the common start is read');
      assert.deepEqual(
        got.filter((s) => s.nodes.some((n) => n.nodeId !== 'n-new')).map((s) => [(s.windowStartMs - T0) / NEW_W, s.nodes, s.shards]),
        [],
        'no window holds the figures of the replica that still runs the old length',
      );
      assert.equal(got.length, STEPS - 4);
    } finally {
      await src.close();
    }
  });
});
