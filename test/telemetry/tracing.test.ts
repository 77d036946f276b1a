import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { trace } from '@opentelemetry/api';
import {
  beginChangeTrace,
  CHANGE_SPAN,
  PUSH_SPAN,
  startTracing,
  tracingConfigFromEnv,
  TRACER_NAME,
  type ChangeOutcome,
  type Tracing,
} from '../../src/telemetry/index.js';
import { eventually } from '../support/eventually.js';
import { startOtlpReceiver, type OtlpReceiver, type ReceivedSpan } from './support/otlp-receiver.js';

test('tracing is on only when an OTLP endpoint is set, and honours the standard variables', () => {
  assert.equal(tracingConfigFromEnv({}).enabled, false);
  assert.match(tracingConfigFromEnv({}).reason, /OTEL_EXPORTER_OTLP_ENDPOINT/);
  const general = tracingConfigFromEnv({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318/' });
  assert.deepEqual([general.enabled, general.endpoint, general.serviceName], [true, 'http://collector:4318/v1/traces', 'keyway']);
  const specific = tracingConfigFromEnv({
    OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318',
    OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://traces:9999/custom/path',
    OTEL_SERVICE_NAME: 'keyway-eu',
  });
  assert.deepEqual([specific.endpoint, specific.serviceName], ['http://traces:9999/custom/path', 'keyway-eu']);
  assert.equal(tracingConfigFromEnv({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318', OTEL_SDK_DISABLED: 'true' }).enabled, false);
  assert.equal(tracingConfigFromEnv({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318', OTEL_TRACES_EXPORTER: 'none' }).enabled, false);
  assert.equal(tracingConfigFromEnv({ OTEL_EXPORTER_OTLP_ENDPOINT: 'not a url' }).enabled, false);
  const grpc = tracingConfigFromEnv({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4317', OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc' });
  assert.equal(grpc.enabled, true);
  assert.match(grpc.warnings[0]!, /grpc is not supported/);
});

test('an endpoint without http:// or https:// (collector:4318) turns tracing off with a warning naming the variable, instead of failing every export', () => {
  for (const [variable, value] of [
    ['OTEL_EXPORTER_OTLP_ENDPOINT', 'otel-collector:4318'],
    ['OTEL_EXPORTER_OTLP_ENDPOINT', 'localhost:4318'],
    ['OTEL_EXPORTER_OTLP_TRACES_ENDPOINT', 'grpc://collector:4317/v1/traces'],
  ] as const) {
    const c = tracingConfigFromEnv({ [variable]: value });
    assert.equal(c.enabled, false, `${variable}=${value}`);
    assert.equal(c.warnings.length, 1, 'said at warn level, not only in the info line');
    assert.match(c.warnings[0]!, new RegExp(`^${variable}: .*is not an http:// or https:// URL`));
  }
  const bad = tracingConfigFromEnv({ OTEL_EXPORTER_OTLP_ENDPOINT: 'not a url' });
  assert.match(bad.warnings[0]!, /OTEL_EXPORTER_OTLP_ENDPOINT: .*is not a URL/);
  assert.equal(tracingConfigFromEnv({ OTEL_EXPORTER_OTLP_ENDPOINT: 'https://c:4318' }).enabled, true);
});

let receiver: OtlpReceiver;
let tracing: Tracing;
const saved = { ...process.env };

before(async () => {
  receiver = await startOtlpReceiver();
  // The exporter reads headers from process.env, as it would in production.
  process.env.OTEL_EXPORTER_OTLP_ENDPOINT = receiver.url;
  process.env.OTEL_EXPORTER_OTLP_HEADERS = 'x-keyway-test=yes';
  process.env.OTEL_RESOURCE_ATTRIBUTES = 'deployment.environment=test';
  delete process.env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT;
  delete process.env.OTEL_SERVICE_NAME;
  tracing = startTracing({ serviceVersion: '0.1.0-test' });
});

after(async () => {
  await tracing.shutdown();
  await receiver.close();
  for (const k of ['OTEL_EXPORTER_OTLP_ENDPOINT', 'OTEL_EXPORTER_OTLP_HEADERS', 'OTEL_RESOURCE_ATTRIBUTES']) {
    if (saved[k] === undefined) delete process.env[k];
    else process.env[k] = saved[k];
  }
});

/** Flushes and waits until the receiver holds the whole trace (its root span included). */
async function exported(traceId: string, spans: number): Promise<ReceivedSpan[]> {
  await tracing.forceFlush();
  return eventually(`${spans} spans of trace ${traceId} at the receiver`, () => {
    const got = receiver.spans.filter((s) => s.traceId === traceId);
    return got.length >= spans ? got : undefined;
  });
}

function only(spans: readonly ReceivedSpan[], pred: (s: ReceivedSpan) => boolean, what: string): ReceivedSpan {
  const found = spans.filter(pred);
  assert.equal(found.length, 1, `exactly one ${what}, got ${found.map((s) => s.name).join(', ')}`);
  return found[0]!;
}

test('one trace per change: stages and per-proxy pushes are children of the change, exported over OTLP/HTTP', async () => {
  assert.equal(tracing.config.enabled, true);
  const converged: number[] = [];
  let settledWith: ChangeOutcome | undefined;
  const startTime = new Date(Date.now() - 50); // the source saw the change 50 ms before the runner began the trace
  const change = beginChangeTrace({
    source: 'file',
    reason: 'topology file changed',
    startTime,
    onConverged: (s) => converged.push(s),
    onSettled: (o) => (settledWith = o),
  });
  assert.match(change.traceId, /^[0-9a-f]{32}$/);
  assert.notEqual(change.traceId, '0'.repeat(32));

  const map = change.stage('keyway.sharding', { 'keyway.shards': 64 }, () => ({ version: 'v2', moved: 7 }));
  assert.deepEqual(map, { version: 'v2', moved: 7 });
  change.setAttributes({ 'keyway.shardmap.version': map.version, 'keyway.shards.moved': map.moved });
  const translated = await change.stage('keyway.translate', undefined, async () => {
    await sleep(5);
    // A span made inside a stage by ordinary OpenTelemetry code nests under the stage.
    trace.getTracer(TRACER_NAME).startActiveSpan('keyway.translate.encode', (span) => span.end());
    return 3;
  });
  assert.equal(translated, 3);

  change.pushed('envoy-1', 'endpoint', { 'keyway.xds.version': 'v2' });
  change.pushed('envoy-1', 'route');
  change.pushed('grpc-1', 'endpoint');
  change.sealed();
  assert.equal(change.proxyAcked('envoy-1', 'endpoint'), true);
  assert.equal(change.proxyAcked('envoy-1', 'endpoint'), false, 'a second ACK of the same push is ignored');
  assert.equal(change.proxyAcked('nobody', 'endpoint'), false);
  assert.equal(change.ended, false, 'still waiting for two answers');
  change.proxyAcked('envoy-1', 'route');
  change.proxyAcked('grpc-1', 'endpoint');
  const outcome = await change.settled;
  assert.equal(change.ended, true);
  assert.deepEqual(
    { outcome: outcome.outcome, pushes: outcome.pushes, acked: outcome.acked, nacked: outcome.nacked, pending: outcome.pending },
    { outcome: 'converged', pushes: 3, acked: 3, nacked: 0, pending: 0 },
  );
  assert.ok(outcome.seconds >= 0.05, `convergence counts from the source event: ${outcome.seconds}`);
  assert.deepEqual(converged, [outcome.seconds]);
  assert.equal(settledWith, outcome);

  const spans = await exported(change.traceId, 7);
  assert.equal(spans.length, 7, spans.map((s) => s.name).join(', '));
  const root = only(spans, (s) => s.name === CHANGE_SPAN, 'change span');
  assert.equal(root.parentSpanId, '');
  assert.equal(root.startNs / 1_000_000n, BigInt(startTime.getTime()));
  assert.deepEqual(
    {
      source: root.attributes['keyway.change.source'],
      reason: root.attributes['keyway.change.reason'],
      version: root.attributes['keyway.shardmap.version'],
      moved: root.attributes['keyway.shards.moved'],
      outcome: root.attributes['keyway.change.outcome'],
      pushes: root.attributes['keyway.change.pushes'],
      acked: root.attributes['keyway.change.acked'],
    },
    { source: 'file', reason: 'topology file changed', version: 'v2', moved: 7, outcome: 'converged', pushes: 3, acked: 3 },
  );
  assert.equal(root.resource['service.name'], 'keyway');
  assert.equal(root.resource['service.version'], '0.1.0-test');
  assert.equal(root.resource['deployment.environment'], 'test', 'OTEL_RESOURCE_ATTRIBUTES is honoured');

  const sharding = only(spans, (s) => s.name === 'keyway.sharding', 'sharding stage');
  assert.equal(sharding.parentSpanId, root.spanId);
  assert.equal(sharding.attributes['keyway.shards'], 64);
  const translate = only(spans, (s) => s.name === 'keyway.translate', 'translate stage');
  assert.equal(translate.parentSpanId, root.spanId);
  assert.ok(translate.endNs - translate.startNs >= 4_000_000n, 'the async stage ends when its promise settles');
  const encode = only(spans, (s) => s.name === 'keyway.translate.encode', 'nested span');
  assert.equal(encode.parentSpanId, translate.spanId);

  const pushes = spans.filter((s) => s.name === PUSH_SPAN);
  assert.equal(pushes.length, 3);
  for (const p of pushes) {
    assert.equal(p.parentSpanId, root.spanId);
    assert.equal(p.attributes['keyway.xds.answer'], 'ack');
    assert.deepEqual(p.events.map((e) => e.name), ['ack']);
    assert.ok(p.endNs <= root.endNs, 'the change ends with its last ACK');
  }
  assert.deepEqual(
    pushes.map((p) => `${p.attributes['keyway.proxy.id']}/${p.attributes['keyway.xds.type']}`).sort(),
    ['envoy-1/endpoint', 'envoy-1/route', 'grpc-1/endpoint'],
  );
  assert.equal(only(pushes, (p) => p.attributes['keyway.xds.version'] === 'v2', 'push with extra attributes').attributes['keyway.proxy.id'], 'envoy-1');
  assert.equal(root.endNs, pushes.map((p) => p.endNs).reduce((a, b) => (a > b ? a : b)), 'root ends at the last answer');
  assert.ok(receiver.requests.every((h) => h['x-keyway-test'] === 'yes'), 'OTEL_EXPORTER_OTLP_HEADERS reach the collector');
});

test('a NACK marks its push and the change as errors; the change is rejected, not converged', async () => {
  const converged: number[] = [];
  const change = beginChangeTrace({ source: 'kubernetes', reason: 'endpoint gpu-3 not ready', onConverged: (s) => converged.push(s) });
  change.pushed('envoy-1', 'endpoint');
  change.pushed('envoy-2', 'endpoint');
  change.sealed();
  change.proxyNacked('envoy-1', 'endpoint', 'Proto constraint validation failed');
  change.proxyAcked('envoy-2', 'endpoint');
  const outcome = await change.settled;
  assert.equal(outcome.outcome, 'rejected');
  assert.deepEqual([outcome.acked, outcome.nacked], [1, 1]);
  assert.deepEqual(converged, []);
  const spans = await exported(change.traceId, 3);
  const root = only(spans, (s) => s.name === CHANGE_SPAN, 'change span');
  assert.equal(root.statusCode, 2);
  const nack = only(spans, (s) => s.attributes['keyway.proxy.id'] === 'envoy-1', 'NACKed push');
  assert.equal(nack.statusCode, 2);
  assert.equal(nack.attributes['keyway.xds.nack.message'], 'Proto constraint validation failed');
  assert.deepEqual(nack.events[0], { name: 'nack', attributes: { message: 'Proto constraint validation failed' } });
});

test('the wait is bounded: unanswered pushes end the change at the timeout', async () => {
  const change = beginChangeTrace({ source: 'file', reason: 'slow proxy', timeoutMs: 150 });
  change.pushed('envoy-slow', 'cluster');
  change.pushed('envoy-fast', 'cluster');
  change.sealed();
  change.proxyAcked('envoy-fast', 'cluster');
  const outcome = await change.settled;
  assert.equal(outcome.outcome, 'timeout');
  assert.deepEqual([outcome.pushes, outcome.acked, outcome.pending], [2, 1, 1]);
  assert.ok(outcome.seconds >= 0.14 && outcome.seconds < 5, String(outcome.seconds));
  assert.equal(change.proxyAcked('envoy-slow', 'cluster'), false, 'answers after the end are ignored');
  const spans = await exported(change.traceId, 3);
  const slow = only(spans, (s) => s.attributes['keyway.proxy.id'] === 'envoy-slow', 'slow push');
  assert.equal(slow.attributes['keyway.xds.answer'], 'none (timeout)');
  assert.equal(only(spans, (s) => s.name === CHANGE_SPAN, 'change').attributes['keyway.change.pending'], 1);
});

test('a proxy that disconnects stops counting, so the change converges on the proxies still connected', async () => {
  const converged: number[] = [];
  const change = beginChangeTrace({ source: 'file', reason: 'reweight', onConverged: (s) => converged.push(s) });
  change.pushed('envoy-1', 'endpoint');
  change.pushed('envoy-gone', 'endpoint');
  change.pushed('envoy-gone', 'route');
  change.sealed();
  change.proxyAcked('envoy-1', 'endpoint');
  assert.equal(change.ended, false);
  change.proxyGone('envoy-gone');
  const outcome = await change.settled;
  assert.deepEqual([outcome.outcome, outcome.pushes, outcome.acked], ['converged', 1, 1]);
  assert.equal(converged.length, 1);
});

test('pushes may keep coming until sealed(); a newer push replaces an unanswered one; a superseded change ends at once', async () => {
  const change = beginChangeTrace({ source: 'file', reason: 'burst' });
  change.pushed('envoy-1', 'endpoint');
  change.proxyAcked('envoy-1', 'endpoint');
  assert.equal(change.ended, false, 'not sealed: more pushes may follow');
  change.pushed('envoy-2', 'endpoint');
  change.pushed('envoy-2', 'endpoint'); // resent before any answer: still one push to wait for
  const next = beginChangeTrace({ source: 'file', reason: 'burst, second edit' });
  change.end('superseded');
  const outcome = await change.settled;
  assert.deepEqual([outcome.outcome, outcome.pushes, outcome.acked, outcome.pending], ['superseded', 2, 1, 1]);
  next.sealed();
  const empty = await next.settled;
  assert.deepEqual([empty.outcome, empty.pushes], ['converged', 0], 'no proxy to wait for: settled at once');
  const spans = await exported(change.traceId, 4);
  const replaced = spans.filter((s) => s.attributes['keyway.xds.answer'] === 'none (replaced by a newer push)');
  assert.equal(replaced.length, 1);
  assert.notEqual(next.traceId, change.traceId, 'every change is its own trace');
});

test('a stage that throws or rejects is recorded as an error and the error is passed on', async () => {
  const change = beginChangeTrace({ source: 'file', reason: 'bad input' });
  assert.throws(
    () =>
      change.stage('keyway.sharding', undefined, () => {
        throw new Error('two endpoints with one identity');
      }),
    /two endpoints/,
  );
  await assert.rejects(change.stage('keyway.translate', undefined, async () => Promise.reject(new Error('encode failed'))), /encode failed/);
  change.end();
  assert.equal((await change.settled).outcome, 'ended');
  const spans = await exported(change.traceId, 3);
  for (const name of ['keyway.sharding', 'keyway.translate']) {
    const s = only(spans, (x) => x.name === name, name);
    assert.equal(s.statusCode, 2);
    assert.equal(s.events[0]?.name, 'exception');
  }
});

test('recordStage: a stage that ran before the trace began becomes a child with its real start and end', async () => {
  const detectedAt = Date.now() - 40;
  const change = beginChangeTrace({ source: 'kubernetes', reason: 'endpoints changed', startTime: new Date(detectedAt) });
  // Computed 30 ms after the event, for 2.5 ms (sub-millisecond precision is kept).
  change.recordStage('keyway.sharding', detectedAt + 30, detectedAt + 32.5, { 'keyway.sharding.mode': 'incremental' });
  change.end();
  change.recordStage('keyway.late', detectedAt, detectedAt + 1); // ignored: the change has ended
  const spans = await exported(change.traceId, 2);
  assert.deepEqual(spans.map((s) => s.name).sort(), [CHANGE_SPAN, 'keyway.sharding']);
  const root = only(spans, (s) => s.name === CHANGE_SPAN, 'change span');
  const sharding = only(spans, (s) => s.name === 'keyway.sharding', 'recorded stage');
  assert.equal(sharding.parentSpanId, root.spanId);
  assert.equal(sharding.attributes['keyway.sharding.mode'], 'incremental');
  assert.equal(sharding.startNs - root.startNs, 30_000_000n);
  assert.equal(sharding.endNs - sharding.startNs, 2_500_000n);
});
