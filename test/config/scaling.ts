/**
 * Whether a step's cost grows in proportion to its input, not with its square, by a ratio of two
 * timings in one test rather than an absolute bound: the same work on n and on 8n items, the
 * fastest of a few runs each. Linear work takes about 8 times as long on 8n; quadratic, 64 times.
 */
import assert from 'node:assert/strict';

/** Under this the larger run is fast whatever its shape: timer noise, not growth, would decide. */
const FAST_ENOUGH_MS = 100;
/** The ratio allowed for an input 8 times larger: 8 when linear, 64 when quadratic. */
const MAX_RATIO = 24;

function timed(run: () => void): number {
  const t = performance.now();
  run();
  return performance.now() - t;
}

/** Asserts that `work(8n)` costs at most MAX_RATIO times `work(n)`; `work(n)` prepares its input, then returns the step. */
export function assertLinear(what: string, work: (n: number) => () => void, n: number): void {
  const small = work(n);
  const large = work(8 * n);
  small(); // warm up the code paths before timing
  let smallMs = Infinity;
  for (let k = 0; k < 5; k++) smallMs = Math.min(smallMs, timed(small));
  const within = (ms: number): boolean => ms < FAST_ENOUGH_MS || ms / Math.max(smallMs, 0.5) <= MAX_RATIO;
  // The fastest of up to 5 runs: a shared machine can deschedule or pause one run (a GC, another
  // job), never all of them by the same factor; quadratic work fails every run.
  let largeMs = timed(large);
  for (let k = 1; k < 5 && !within(largeMs); k++) largeMs = Math.min(largeMs, timed(large));
  const ratio = largeMs / Math.max(smallMs, 0.5);
  assert.ok(within(largeMs), `${what}: ${n} items took ${smallMs.toFixed(1)} ms and ${8 * n} took ${largeMs.toFixed(1)} ms, ${ratio.toFixed(1)} times as long (linear would be about 8, at most ${MAX_RATIO} allowed)`);
}
