// A change's convergence time runs on the monotonic clock from the moment its trace begins
// (src/telemetry/change-trace.ts): a wall clock that steps (an NTP correction, a VM resumed) before
// the last ACK recorded the step as convergence time (keyway_xds_convergence_seconds), or 0 s.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { beginChangeTrace } from '../../src/telemetry/index.js';

const HOUR = 3_600_000;

for (const step of [-HOUR, HOUR]) {
  test(`convergence after the wall clock stepped ${step < 0 ? 'back' : 'forward'} an hour is the time the change took`, async (t) => {
    const real = Date.now.bind(Date);
    let wallOffset = 0;
    t.mock.method(Date, 'now', () => real() + wallOffset);
    const converged: number[] = [];
    const change = beginChangeTrace({ source: 'file', reason: 'test', startTime: new Date(Date.now() - 200), onConverged: (s) => converged.push(s) });
    change.pushed('envoy-1', 'cluster');
    change.sealed();
    await sleep(100);
    wallOffset = step;
    change.proxyAcked('envoy-1', 'cluster');
    const outcome = await change.settled;
    assert.equal(outcome.outcome, 'converged');
    assert.ok(outcome.seconds >= 0.29 && outcome.seconds < 5, `${outcome.seconds} s`);
    assert.deepEqual(converged, [outcome.seconds]);
  });
}

test('a change ended after the wall clock stepped forward an hour lasted the time it ran', async (t) => {
  const real = Date.now.bind(Date);
  let wallOffset = 0;
  t.mock.method(Date, 'now', () => real() + wallOffset);
  const change = beginChangeTrace({ source: 'file', reason: 'test', timeoutMs: 200 });
  change.pushed('envoy-1', 'cluster');
  change.sealed();
  wallOffset = HOUR;
  // The trace's timer does not hold the process open; this sleep does.
  const outcome = await Promise.race([change.settled, sleep(3_000).then(() => assert.fail('no timeout'))]);
  assert.equal(outcome.outcome, 'timeout');
  assert.ok(outcome.seconds >= 0.19 && outcome.seconds < 5, `${outcome.seconds} s`);
});

test('a change whose source event is stamped an hour ahead (the wall clock stepped back since) still times out at timeoutMs', async () => {
  const change = beginChangeTrace({ source: 'file', reason: 'test', startTime: new Date(Date.now() + HOUR), timeoutMs: 200 });
  change.pushed('envoy-1', 'cluster');
  change.sealed();
  const outcome = await Promise.race([change.settled, sleep(3_000).then(() => assert.fail('no timeout'))]);
  assert.equal(outcome.outcome, 'timeout');
});
