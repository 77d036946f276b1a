// Limit overrides from the environment (src/core/env-limit.ts): the default when unset or empty,
// and a BAD_ARGUMENT naming the variable for anything but an integer in range.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { envLimit } from '../../src/core/env-limit.js';
import { KeywayError } from '../../src/core/errors.js';
import { MAX_TIMER_MS } from '../../src/core/limits.js';

const refused = (pattern: RegExp) => (err: unknown) => err instanceof KeywayError && err.code === 'BAD_ARGUMENT' && pattern.test(err.message);

test('unset or empty gives the default; a whole number in range is taken', () => {
  assert.equal(envLimit({}, 'KEYWAY_X', 7), 7);
  assert.equal(envLimit({ KEYWAY_X: '' }, 'KEYWAY_X', 7), 7);
  assert.equal(envLimit({ KEYWAY_X: '12' }, 'KEYWAY_X', 7), 12);
  assert.equal(envLimit({ KEYWAY_X: '0' }, 'KEYWAY_X', 7, { min: 0 }), 0);
  assert.equal(envLimit({ KEYWAY_X: String(MAX_TIMER_MS) }, 'KEYWAY_X', 7, { ms: true }), MAX_TIMER_MS);
});

test('anything else is refused, naming the variable and the value', () => {
  for (const raw of ['0', '-1', '1.5', 'abc', '1e400', ' ']) {
    assert.throws(
      () => envLimit({ KEYWAY_X: raw }, 'KEYWAY_X', 7),
      (err: unknown) => err instanceof KeywayError && err.code === 'BAD_ARGUMENT' && err.message === `KEYWAY_X must be a positive integer, got ${JSON.stringify(raw)}`,
      raw,
    );
  }
  assert.throws(() => envLimit({ KEYWAY_X: '-1' }, 'KEYWAY_X', 7, { min: 0, ms: true }), refused(/^KEYWAY_X must be a non-negative integer of ms/));
  // Past setTimeout's longest delay a timer would fire after 1 ms: refused for durations only.
  assert.throws(() => envLimit({ KEYWAY_X: String(MAX_TIMER_MS + 1) }, 'KEYWAY_X', 7, { ms: true }), refused(/^KEYWAY_X must be at most 2147483647 ms/));
  assert.equal(envLimit({ KEYWAY_X: String(MAX_TIMER_MS + 1) }, 'KEYWAY_X', 7), MAX_TIMER_MS + 1);
});
