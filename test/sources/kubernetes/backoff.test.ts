/** Retry delays after API errors: exponential, capped, jittered within the upper half of each step. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { backoffDelay } from '../../../src/sources/kubernetes/backoff.js';

test('delays double from initialMs up to maxMs, within [step/2, step]', () => {
  const opts = { initialMs: 500, maxMs: 30_000 };
  const steps = [500, 1000, 2000, 4000, 8000, 16_000, 30_000, 30_000];
  steps.forEach((step, i) => {
    assert.equal(backoffDelay(i + 1, opts, () => 0), step / 2);
    assert.equal(backoffDelay(i + 1, opts, () => 1), step);
    const d = backoffDelay(i + 1, opts);
    assert.ok(d >= step / 2 && d <= step, `attempt ${i + 1}: ${d}`);
  });
  assert.equal(backoffDelay(10_000, opts, () => 1), 30_000); // no overflow on long outages
  assert.equal(backoffDelay(0, opts, () => 1), 500);
});
