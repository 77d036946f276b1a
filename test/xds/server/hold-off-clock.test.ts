// A burst's hold-off runs on the monotonic clock (src/xds/server/hold-off.ts): a wall clock stepped
// back (an NTP correction, a VM resumed) while a client keeps changing its subscription does not
// stretch the maxDelayMs bound by the size of the step.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HoldOffTimers } from '../../../src/xds/server/hold-off.js';
import { eventually } from '../../support/eventually.js';

test('a burst that never pauses is answered maxDelayMs after it began though the wall clock stepped back an hour', async (t) => {
  const real = Date.now.bind(Date);
  let wallOffset = 0;
  t.mock.method(Date, 'now', () => real() + wallOffset);
  let due = 0;
  const timers = new HoldOffTimers<string>({ holdOffMs: 50, maxDelayMs: 300 }, () => due++);
  t.after(() => timers.clear());
  timers.touch('cluster');
  wallOffset = -3_600_000;
  // Changes every 10 ms: the quiet time never passes, only the bound ends the wait.
  const changes = setInterval(() => timers.touch('cluster'), 10);
  t.after(() => clearInterval(changes));
  await eventually('answered at the bound', () => due > 0, { timeoutMs: 2_000 });
  assert.ok(due >= 1);
});
