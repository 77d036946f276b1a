// A fleet's load reports (docs/load-reports.md "With the agent library"): windows are aligned to
// the epoch and nodes' clocks agree (NTP), so with a fixed delay after each window's end every
// node of the fleet called every replica in the same millisecond. Each agent draws its delay anew
// each window, from 20 ms to half of keyway's settle time (min(1 s, window / 4)), so the reports
// spread and still all arrive before keyway reads the window (src/sources/load/local.ts).
// Timers, the clock and Math.random are mocked; no call leaves the process.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { OwnershipAgent } from '../../src/agent/index.js';
import { LOAD_REPORT_SPREAD, loadReportDelay } from '../../src/agent/agent.js';
import { ServerLink } from '../../src/agent/server-link.js';
import type { LoadReport } from '../../src/core/load.js';
import { Rng } from '../support/seeded-random.js';

const NODES = 2000;
const WINDOW_MS = 10_000;
/** keyway's default settle time for the window (src/sources/load/local.ts). */
const SETTLE_MS = Math.min(1_000, WINDOW_MS / 4);
const SLICE_MS = 10;
/** A window's end, on the epoch grid. */
const END = 1_800_000_000_000;

test('2000 agents report a window spread over half the settle time, never in one instant, all before keyway reads it', (t) => {
  const rng = new Rng(11);
  t.mock.method(Math, 'random', () => rng.next());
  t.mock.timers.enable({ apis: ['setTimeout', 'Date'], now: END - 3_000 });
  t.mock.method(ServerLink.prototype, 'connect', () => {});
  const sent: { at: number; report: LoadReport }[] = [];
  t.mock.method(ServerLink.prototype, 'reportLoad', (report: LoadReport) => {
    sent.push({ at: Date.now(), report });
    return Promise.resolve({ acceptedShards: report.shards.length });
  });
  const agents = Array.from({ length: NODES }, (_, i) => new OwnershipAgent({ nodeId: `n${i}`, servers: ['127.0.0.1:1'], timing: { loadWindowMs: WINDOW_MS } }));
  t.after(() => Promise.all(agents.map((a) => a.close())));
  for (const a of agents) {
    a.start();
    a.recordRequest(7);
  }
  for (let ms = 0; ms < 3_000 + SETTLE_MS; ms++) t.mock.timers.tick(1);

  assert.equal(sent.length, NODES, 'one report per node');
  assert.ok(sent.every((s) => s.report.windowStartMs === END - WINDOW_MS && s.report.totalRequests === 1));
  const after = sent.map((s) => s.at - END);
  assert.ok(Math.min(...after) >= 20, `earliest ${Math.min(...after)} ms after the end`);
  assert.ok(Math.max(...after) <= LOAD_REPORT_SPREAD * SETTLE_MS, `latest ${Math.max(...after)} ms after the end: the call must arrive before the read at ${SETTLE_MS} ms`);
  const slices = new Map<number, number>();
  for (const ms of after) slices.set(Math.floor(ms / SLICE_MS), (slices.get(Math.floor(ms / SLICE_MS)) ?? 0) + 1);
  // Even over (500 - 20) ms: about 42 a slice; a fixed delay puts all 2000 in one.
  const busiest = Math.max(...slices.values());
  assert.ok(busiest <= 80, `${busiest} reports in one ${SLICE_MS} ms slice`);
});

test('the delay stays within the settle time for every window length, and is the fixed 20 ms where there is no room', () => {
  for (const w of [1, 80, 160, 200, 1_000, 4_000, 10_000, 60_000]) {
    const settle = Math.min(1_000, w / 4);
    for (const r of [0, 0.5, 0.999999]) {
      const d = loadReportDelay(w, () => r);
      assert.ok(d >= 20, `window ${w}: ${d}`);
      assert.ok(d <= Math.max(20, LOAD_REPORT_SPREAD * settle), `window ${w}: ${d}`);
    }
  }
  assert.equal(loadReportDelay(100, () => 0.9), 20);
});
