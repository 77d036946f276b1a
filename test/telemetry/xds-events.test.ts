import { test } from 'node:test';
import assert from 'node:assert/strict';
import { beginChangeTrace, createKeywayMetrics, KEYWAY_METRICS as N, xdsEventsRecorder } from '../../src/telemetry/index.js';
import { parseExposition } from './support/exposition.js';

test('xDS stream events become push and NACK metrics and the current change trace converges on them', async (t) => {
  const metrics = createKeywayMetrics();
  t.after(() => metrics.shutdown());
  const converged: number[] = [];
  const change = beginChangeTrace({ source: 'file', reason: 'test', onConverged: (s) => converged.push(s) });
  const events = xdsEventsRecorder({ metrics, change: () => change });

  events.sent({ nodeId: 'envoy-1', kind: 'endpoint', version: 'v2' });
  events.sent({ nodeId: 'envoy-2', kind: 'endpoint', version: 'v2' });
  events.sent({ nodeId: 'envoy-3', kind: 'endpoint', version: 'v2' });
  change.sealed();
  events.acked({ nodeId: 'envoy-1', kind: 'endpoint', version: 'v2', sentAt: 1_000, at: 1_003 });
  events.nacked({ nodeId: 'envoy-2', kind: 'endpoint', version: 'v2', sentAt: 1_000, at: 1_400, message: 'bad' });
  assert.equal(change.ended, false);
  events.closed({ nodeId: 'envoy-3' });
  const outcome = await change.settled;
  assert.deepEqual([outcome.outcome, outcome.acked, outcome.nacked, outcome.pushes], ['rejected', 1, 1, 2]);
  assert.deepEqual(converged, []);

  const exp = parseExposition(await metrics.render());
  assert.equal(exp.value(N.pushes, { type: 'endpoint' }), 2);
  assert.equal(exp.value(N.nacks, { type: 'endpoint' }), 1);
  assert.equal(exp.value(`${N.pushDuration}_bucket`, { type: 'endpoint', le: '0.005' }), 1, 'the 3 ms ACK');
  assert.equal(exp.value(`${N.pushDuration}_bucket`, { type: 'endpoint', le: '0.25' }), 1);
  assert.equal(exp.value(`${N.pushDuration}_bucket`, { type: 'endpoint', le: '0.5' }), 2, 'the 400 ms NACK');

  // Without a change being traced, only metrics are recorded.
  const plain = xdsEventsRecorder({ metrics });
  plain.sent({ nodeId: 'envoy-1', kind: 'cluster', version: 'v3' });
  plain.acked({ nodeId: 'envoy-1', kind: 'cluster', version: 'v3', sentAt: 0, at: 10 });
  assert.equal(parseExposition(await metrics.render()).value(N.pushes, { type: 'cluster' }), 1);
});
