// A wall clock stepped forward (docs/load-reports.md "Clock steps"): the window in progress ends
// early and is reported, the windows the clock skipped have no report, and the window the clock
// lands in is counted and reported from the step on, as after a start. It is not a step back.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LoadCounter } from '../../src/agent/load-counter.js';

const W = 1_000;

test('a wall clock stepped forward: the window it lands in is reported, and nothing is logged as a step back', () => {
  // Wall 10 000 at mono 0; at mono 600 it steps forward 5 000 ms, into window 15 000 (at 15 600).
  const wall = (mono: number) => (mono < 600 ? 10_000 + mono : 15_000 + mono);
  const c = new LoadCounter('n', W, wall(0), () => 8, 0);
  const sent: [number, number][] = [];
  for (let mono = 0; mono <= 2_500; mono += 10) {
    c.record(1, 1, wall(mono), mono);
    for (const r of c.take(wall(mono), mono)) sent.push([r.windowStartMs, r.totalRequests]);
  }
  assert.deepEqual(c.takeUnreported(), [], 'the clock went forward, not back: no window is left unreported');
  // 10 000: the 60 requests before the step; 15 000: the 40 after it (15 600 to 16 000); then whole windows.
  assert.deepEqual(sent, [[10_000, 60], [15_000, 40], [16_000, 100]]);
});

test('a wall clock stepped back still leaves the window it went back into unreported', () => {
  // Wall 10 000 at mono 0; at mono 500 it steps back 400 ms, staying in window 10 000.
  const wall = (mono: number) => (mono < 500 ? 10_000 + mono : 9_600 + mono);
  const c = new LoadCounter('n', W, wall(0), () => 8, 0);
  for (let mono = 0; mono <= 3_000; mono += 10) {
    c.record(1, 1, wall(mono), mono);
    c.take(wall(mono), mono);
  }
  assert.deepEqual(c.takeUnreported(), [10_000]);
});
