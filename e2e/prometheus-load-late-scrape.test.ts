// A scrape answered late (docs/load-reports.md "source: prometheus"), against a real Prometheus
// backfilled with promtool: a keyway replica whose event loop stalls at a window's end answers a
// scrape stamped 1.2 s before the end (past the margin m of 1 s) with the next window. That scrape
// names another window than the one the read takes from that export, so the replica is left out
// of that window, by design; the next window is its own, and the replica (the only one that heard
// node n2) must count in it. The check of the export one window earlier, which leaves out a
// replica running another window length, took the late scrape for one and left the replica out
// of the next window too.
import { describe, test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { PrometheusLoadSource } from '../src/sources/load/index.js';
import { prometheusConfig, prometheusSkipReason, startRawPrometheus, type RawPrometheus } from './support/prometheus.js';
import { GaugeHistory } from './support/gauge-history.js';

const skip = prometheusSkipReason();
const W = 10_000;
const SCRAPE_MS = 2_000;
const WINDOWS = 14;
/** The window during whose export r1 answered one scrape late. */
const LATE = 6;
const T0 = Math.floor((Date.now() - 3 * 3_600_000) / W) * W;

/** Both replicas export window i from T0 + (i + 1) W to T0 + (i + 2) W; n2 reports to r1 alone. */
function history(): string {
  const gauges = new GaugeHistory();
  const add = gauges.add.bind(gauges);
  for (const r of ['r0', 'r1']) {
    const base = `instance="${r}:9000",job="keyway"`;
    const scrapes: { t: number; i: number }[] = [];
    for (let t = T0 + W + 500; t < T0 + (WINDOWS + 1) * W; t += SCRAPE_MS) {
      const i = Math.floor((t - T0) / W) - 1;
      // The scrape due 1.5 s before the end of window LATE's export: stamped 1.2 s before it,
      // answered after it (the next window).
      if (r === 'r1' && i === LATE && t === T0 + (LATE + 2) * W - 1_500) scrapes.push({ t: t + 300, i: LATE + 1 });
      else scrapes.push({ t, i });
    }
    for (const s of scrapes) add('keyway_load_window_start_seconds', base, (T0 + s.i * W) / 1000, s.t);
    for (const s of scrapes) add('keyway_load_node_requests_per_second', `${base},node="n1"`, 100, s.t);
    if (r === 'r1') for (const s of scrapes) add('keyway_load_node_requests_per_second', `${base},node="n2"`, 40, s.t);
  }
  return gauges.text();
}

describe('load snapshots from Prometheus with a scrape answered late', { skip }, () => {
  let prometheus: RawPrometheus;
  before(async () => {
    prometheus = await startRawPrometheus({ config: prometheusConfig([]), openMetrics: history() });
  });
  after(() => prometheus?.stop());

  test('the replica is left out of the window whose export held the late scrape, and only of it', async () => {
    const src = new PrometheusLoadSource({ url: prometheus.url, lagMs: 0, windowMs: () => W, now: () => T0 + (WINDOWS + 1) * W + 1 });
    try {
      const got = await src.latest(WINDOWS - 2);
      const nodes = new Map(got.map((s) => [(s.windowStartMs - T0) / W, s.nodes.map((n) => n.nodeId).join('/')]));
      assert.equal(nodes.get(LATE), 'n1', 'the window whose export held the late scrape: r0 alone');
      for (const [i, n] of nodes) if (i !== LATE) assert.equal(n, 'n1/n2', `window ${i}: both replicas`);
      assert.ok(nodes.has(LATE + 1) && nodes.has(LATE + 2), [...nodes.keys()].join());
    } finally {
      await src.close();
    }
  });
});
