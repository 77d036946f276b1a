// The agent's load windows when the node's wall clock steps (docs/load-reports.md "Clock steps"):
// the monotonic clock measures each window, the wall clock only labels it, so a step back never
// makes one report carry more than a window of requests, and reports do not stop for the step.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import type { LoadReport } from '../../src/core/load.js';
import { OwnershipAgent } from '../../src/agent/index.js';
import { LoadCounter } from '../../src/agent/load-counter.js';
import { LoadReportReplySchema, LoadReportSchema } from '../../src/xds/proto.js';
import { eventually } from '../support/eventually.js';
import { startFakeKeyway } from './fake-keyway.js';

const W = 1_000;

interface Sent extends LoadReport {
  /** Monotonic time it was taken. */
  readonly at: number;
}

/**
 * One request per 10 ms of monotonic time from 0 to `untilMono`, `take` after each; the wall clock
 * reads `wall(mono)`. A whole window holds 100 requests.
 */
function run(wall: (mono: number) => number, untilMono: number): Sent[] {
  const c = new LoadCounter('n', W, wall(0), () => 8, 0);
  const sent: Sent[] = [];
  for (let mono = 0; mono <= untilMono; mono += 10) {
    c.record(1, 1, wall(mono), mono);
    for (const r of c.take(wall(mono), mono)) sent.push({ ...r, at: mono });
  }
  return sent;
}

/** No report carries more than a window of requests (`most`), and no more than two windows pass without one. */
function assertSteady(sent: readonly Sent[], untilMono: number, most = 100): void {
  for (const r of sent) assert.ok(r.totalRequests <= most, `window ${r.windowStartMs} carries ${r.totalRequests} requests, over a window's ${most}: a load spike`);
  const at = [0, ...sent.map((r) => r.at), untilMono];
  for (let i = 1; i < at.length; i++) assert.ok(at[i]! - at[i - 1]! <= 2 * W, `no report between ${at[i - 1]} and ${at[i]} ms (monotonic)`);
}

test('a wall clock stepped back over several windows: no report carries more than a window, and reports go on', () => {
  // Wall 10 000 at mono 0; at mono 1 500 it steps back 2 500 ms (an NTP correction).
  const wall = (mono: number) => (mono < 1_500 ? 10_000 + mono : 7_500 + mono);
  const sent = run(wall, 9_000);
  assertSteady(sent, 9_000);
  // Every report of the windows after the step covers a whole window.
  for (const r of sent.filter((x) => x.at > 3_000)) assert.equal(r.totalRequests, 100, `window ${r.windowStartMs}`);
});

test('a wall clock stepped back within the window in progress: the window still ends after its length', () => {
  // Wall 10 000 at mono 0; at mono 500 it steps back 400 ms, staying in window 10 000.
  const wall = (mono: number) => (mono < 500 ? 10_000 + mono : 9_600 + mono);
  const sent = run(wall, 6_000);
  assertSteady(sent, 6_000);
  assert.deepEqual(sent[0] && [sent[0].windowStartMs, sent[0].totalRequests], [10_000, 100]);
  assert.equal(new Set(sent.map((r) => r.windowStartMs)).size, sent.length, 'each window is reported once');
});

test('a wall clock stepped back by an hour (a VM restored): one window of requests in each report', () => {
  const wall = (mono: number) => (mono < 2_300 ? 3_600_000 + mono : mono);
  const sent = run(wall, 8_000);
  assertSteady(sent, 8_000);
  assert.ok(sent.some((r) => r.windowStartMs < 10_000 && r.totalRequests === 100), 'windows by the corrected clock are reported whole');
});

test('a step back within the tolerance (a few ms) loses no window', () => {
  const wall = (mono: number) => (mono < 950 ? 10_000 + mono : 9_995 + mono);
  const sent = run(wall, 5_010);
  // The window after the step runs 5 ms long: one more request, within the tolerance's 1%.
  assertSteady(sent, 5_010, 101);
  assert.deepEqual(sent.map((r) => r.windowStartMs), [10_000, 11_000, 12_000, 13_000, 14_000]);
});

test('the clocks agree: every window reported once, whole', () => {
  const sent = run((mono) => 10_000 + mono, 4_000);
  assert.deepEqual(sent.map((r) => [r.windowStartMs, r.totalRequests]), [[10_000, 100], [11_000, 100], [12_000, 100], [13_000, 100]]);
});

test('the agent measures its load windows on the monotonic clock: a wall clock stepped back 2.5 windows brings no spike', async (t) => {
  const w = 200;
  const got: { start: number; total: number; at: number }[] = [];
  const keyway = await startFakeKeyway(
    (call) => call.on('error', () => {}),
    (path, call, cb) => {
      if (path === 'ReportLoad') {
        const r = fromBinary(LoadReportSchema, call.request);
        got.push({ start: Number(r.windowStartUnixMs), total: Number(r.totalRequests), at: performance.now() });
      }
      cb(null, Buffer.from(toBinary(LoadReportReplySchema, create(LoadReportReplySchema, {}))));
    },
  );
  t.after(() => keyway.close());
  const realNow = Date.now.bind(Date);
  let offset = 0;
  t.mock.method(Date, 'now', () => realNow() - offset);
  const logs: Record<string, unknown>[] = [];
  const agent = new OwnershipAgent({ nodeId: 'n', servers: [keyway.address], timing: { loadWindowMs: w, backoffInitialMs: 20, backoffMaxMs: 200 }, log: (r) => logs.push(r) });
  t.after(() => agent.close());
  agent.start();
  // Steady load: 5 requests every 5 ms, about 200 a window.
  const load = setInterval(() => agent.recordRequest(1, 5), 5);
  t.after(() => clearInterval(load));
  await eventually('two whole windows reported', () => got.length, { accept: (n) => n >= 3, timeoutMs: 5_000 });
  const steppedAt = performance.now();
  offset = 2.5 * w;
  await eventually('reports go on for six windows after the step', () => got.filter((r) => r.at > steppedAt).length, { accept: (n) => n >= 6, timeoutMs: 5_000 });
  clearInterval(load);
  const after = got.filter((r) => r.at > steppedAt);
  // The busiest whole window before the step (the first window was partial): timers run late on a busy machine.
  const whole = Math.max(...got.filter((r) => r.at <= steppedAt).slice(1).map((r) => r.total));
  for (const r of after) assert.ok(r.total <= 1.5 * whole, `window ${r.start} carries ${r.total} requests, a whole window up to ${whole}: a load spike`);
  // The window in progress ends on time, the rest of the one the clock went back into is not reported.
  const gaps = [steppedAt, ...after.map((r) => r.at)].map((at, i, all) => (i === 0 ? 0 : at - all[i - 1]!));
  assert.ok(Math.max(...gaps) < 3 * w, `reports stopped for ${Math.round(Math.max(...gaps))} ms after the step`);
  assert.ok(logs.some((r) => r.msg === 'the clock went back: load windows counted but not reported'), 'the step is logged');
});
