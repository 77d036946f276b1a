/**
 * Credentials in the OTLP endpoint stay out of the log (docs/observability.md "Traces"): the
 * endpoint is logged at start-up (`tracing on: <endpoint>`), at each failed export run and in the
 * warning of an unusable one, and an OTLP vendor's `https://user:key@host` or `?api-key=` put the
 * key in every such line. The logged form shows `***`; the exporter still sends the credentials.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { trace } from '@opentelemetry/api';
import { startTracing, tracingConfigFromEnv } from '../../src/telemetry/index.js';
import { startOtlpReceiver } from './support/otlp-receiver.js';

const SECRET = 's3cret-ingest-key-9931';

test('the endpoint as logged hides a user name, password and query; the warnings of an unusable one too', () => {
  for (const [env, shown] of [
    [{ OTEL_EXPORTER_OTLP_ENDPOINT: `https://tenant:${SECRET}@otlp.example.com` }, 'https://***@otlp.example.com/v1/traces'],
    [{ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: `https://otlp.example.com/v1/traces?api-key=${SECRET}` }, 'https://otlp.example.com/v1/traces?***'],
    [{ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://collector:4318/v1/traces' }, 'http://collector:4318/v1/traces'],
  ] as const) {
    const config = tracingConfigFromEnv(env);
    assert.equal(config.endpoint, shown);
    assert.ok(!JSON.stringify({ ...config, exportUrl: undefined }).includes(SECRET), JSON.stringify(config));
    assert.equal(config.exportUrl?.includes(SECRET), Object.values(env)[0]!.includes(SECRET), 'the exporter gets the whole URL');
  }
  // The scheme left out: `tenant:key@host` parses as a URL of scheme `tenant:` with no host, the key in its path.
  for (const endpoint of [`otlp://u:${SECRET}@collector:4318`, `collector:4318/?key=${SECRET}`, `//u:${SECRET}@ bad`, `tenant:${SECRET}@otlp.example.com:4318/v1/traces`, `tenant:${SECRET}@otlp.example.com`]) {
    const config = tracingConfigFromEnv({ OTEL_EXPORTER_OTLP_ENDPOINT: endpoint });
    assert.equal(config.enabled, false);
    assert.ok(config.warnings.length > 0);
    assert.ok(!JSON.stringify(config).includes(SECRET), JSON.stringify(config));
  }
});

test('the exporter still sends the credentials of the endpoint', { timeout: 20_000 }, async (t) => {
  const receiver = await startOtlpReceiver();
  t.after(() => receiver.close());
  const url = new URL(receiver.url);
  url.username = 'tenant';
  url.password = SECRET;
  const tracing = startTracing({ env: { OTEL_EXPORTER_OTLP_ENDPOINT: url.href } });
  t.after(() => tracing.shutdown());
  assert.ok(!String(tracing.config.endpoint).includes(SECRET));
  trace.getTracer('secret-test').startSpan('one').end();
  await tracing.forceFlush();
  assert.equal(receiver.requests[0]?.authorization, `Basic ${Buffer.from(`tenant:${SECRET}`).toString('base64')}`);
});
