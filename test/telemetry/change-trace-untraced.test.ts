import { test } from 'node:test';
import assert from 'node:assert/strict';
import { beginChangeTrace, createKeywayMetrics, KEYWAY_METRICS as N, startTracing } from '../../src/telemetry/index.js';
import { parseExposition } from './support/exposition.js';

test('without an OTLP endpoint nothing is exported, yet a change still measures convergence into the metrics', async (t) => {
  const tracing = startTracing({ env: {} });
  assert.equal(tracing.config.enabled, false);
  const metrics = createKeywayMetrics();
  t.after(() => metrics.shutdown());

  const change = beginChangeTrace({
    source: 'file',
    reason: 'topology file changed',
    startTime: new Date(Date.now() - 200),
    onConverged: (s) => metrics.recordConvergence(s),
  });
  assert.equal(change.traceId, '0'.repeat(32), 'a no-op span has the invalid trace id');
  assert.equal(change.stage('keyway.sharding', undefined, () => 42), 42);
  change.pushed('envoy-1', 'endpoint');
  change.sealed();
  change.proxyAcked('envoy-1', 'endpoint');
  const outcome = await change.settled;
  assert.equal(outcome.outcome, 'converged');
  assert.ok(outcome.seconds >= 0.2);

  const exp = parseExposition(await metrics.render());
  assert.equal(exp.value(`${N.convergence}_count`), 1);
  assert.equal(exp.value(`${N.convergence}_bucket`, { le: '0.1' }), 0);
  assert.equal(exp.value(`${N.convergence}_bucket`, { le: '+Inf' }), 1);
  await tracing.shutdown();
});
