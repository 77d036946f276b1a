// Trace export failures are reported, once per run of failures, and so is the recovery
// (docs/observability.md "Traces"): without it an unreachable collector dropped every span silently.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import type { ReadableSpan, SpanExporter } from '@opentelemetry/sdk-trace-base';
import { withExportHealth, type ExportHealthEvent } from '../../src/telemetry/export-health.js';

type Result = Parameters<Parameters<SpanExporter['export']>[1]>[0];

function exportOnce(exporter: SpanExporter): Promise<Result> {
  return new Promise((resolve) => exporter.export([] as ReadableSpan[], resolve));
}

/** An exporter whose exports end with `outcomes` in turn (1: failed, with a connection error). */
function scripted(outcomes: number[]): SpanExporter {
  return {
    export: (_spans, done) => {
      const code = outcomes.shift()!;
      done(code === 0 ? { code } : { code, error: new Error('connect ECONNREFUSED 127.0.0.1:4318') });
    },
    shutdown: async () => {},
  };
}

test('a run of failed exports is told once, with the error; the first success after it once, with the count', async () => {
  const inner = scripted([1, 1, 1, 0, 0, 1, 0]);
  const events: ExportHealthEvent[] = [];
  let clock = 0;
  // A minute apart: each run is far enough from the last warning to be told.
  const exporter = withExportHealth(inner, (e) => events.push(e), { now: () => (clock += 60_000) });
  const codes: number[] = [];
  for (let i = 0; i < 7; i++) codes.push((await exportOnce(exporter)).code);
  assert.deepEqual(codes, [1, 1, 1, 0, 0, 1, 0], 'the results pass through unchanged');
  assert.deepEqual(events, [
    { kind: 'failing', error: 'connect ECONNREFUSED 127.0.0.1:4318' },
    { kind: 'recovered', failedBatches: 3 },
    { kind: 'failing', error: 'connect ECONNREFUSED 127.0.0.1:4318' },
    { kind: 'recovered', failedBatches: 1 },
  ]);
});

test('a collector that fails every other batch is warned of once a minute, not per pair of batches; no batch goes uncounted', async () => {
  let n = 0;
  const inner: SpanExporter = {
    export: (_spans, done) => done(n++ % 2 === 0 ? { code: 1, error: new Error('503 Service Unavailable') } : { code: 0 }),
    shutdown: async () => {},
  };
  const events: ExportHealthEvent[] = [];
  let clock = 0;
  const exporter = withExportHealth(inner, (e) => events.push(e), { now: () => clock });
  // 38 batches, 5 s apart (the batch processor's default delay): 19 failed, over 190 s.
  for (let i = 0; i < 38; i++, clock += 5_000) await exportOnce(exporter);
  const failing = events.filter((e) => e.kind === 'failing');
  assert.ok(failing.length >= 3 && failing.length <= 4, `one warning a minute over 190 s, got ${failing.length}: ${JSON.stringify(events)}`);
  assert.equal(events.length, failing.length * 2, 'each warning has its recovery line');
  const counted = events.reduce((sum, e) => sum + (e.kind === 'recovered' ? e.failedBatches : 0), 0);
  assert.equal(counted, 19, 'the failures not warned of count in the next recovery line');
});

test('the real OTLP exporter towards a closed port: the failure is told', async () => {
  // A port that was free a moment ago: nothing listens there.
  const port = await new Promise<number>((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
  const events: ExportHealthEvent[] = [];
  const exporter = withExportHealth(new OTLPTraceExporter({ url: `http://127.0.0.1:${port}/v1/traces`, timeoutMillis: 2000 }), (e) => events.push(e));
  const result = await exportOnce(exporter);
  await exporter.shutdown();
  assert.equal(result.code, 1);
  assert.equal(events.length, 1);
  assert.equal(events[0]!.kind, 'failing');
});

// The quiet time runs on the monotonic clock by default: a wall clock stepped back (an NTP
// correction, a VM resumed) after a warning silenced the next run of failures for as long.
test('a run of failures after the quiet time is told though the wall clock stepped back an hour', async (t) => {
  const real = Date.now.bind(Date);
  let wallOffset = 0;
  t.mock.method(Date, 'now', () => real() + wallOffset);
  const events: ExportHealthEvent[] = [];
  const exporter = withExportHealth(scripted([1, 0, 1]), (e) => events.push(e), { quietMs: 50 });
  await exportOnce(exporter);
  await exportOnce(exporter);
  wallOffset = -3_600_000;
  await sleep(100);
  await exportOnce(exporter);
  assert.deepEqual(
    events.map((e) => e.kind),
    ['failing', 'recovered', 'failing'],
  );
});
