/**
 * The SDK's diagnostic messages in keyway's log (docs/observability.md "Traces"): with no diag
 * logger installed, spans dropped because the batch queue was full and an unreadable
 * OTEL_EXPORTER_OTLP_CERTIFICATE went unseen. They are logged with `otel: true`, rate-limited, and
 * a failed export keyway's export health already told is not told again at error.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createServer, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { diag, trace } from '@opentelemetry/api';
import type { SpanExporter } from '@opentelemetry/sdk-trace-base';
import { pino } from 'pino';
import { installOtelDiagLog, OTEL_DIAG_WINDOW_MS, startTracing, type OtelDiagOptions } from '../../src/telemetry/index.js';
import { eventually } from '../support/eventually.js';

interface Line {
  readonly level: number;
  readonly msg: string;
  readonly otel?: boolean;
  readonly otelHeldBack?: number;
  readonly [k: string]: unknown;
}

/** A pino logger at debug into `lines`, bridged; uninstalled after the test. */
function bridged(t: { after(fn: () => void): void }, opts?: OtelDiagOptions): Line[] {
  const lines: Line[] = [];
  const log = pino({ level: 'debug' }, { write: (s: string) => void lines.push(JSON.parse(s) as Line) });
  const uninstall = installOtelDiagLog(log, opts);
  t.after(uninstall);
  return lines;
}

test('a diag warning and a diag error become one warn and one error line each, marked otel: true', (t) => {
  const lines = bridged(t);
  diag.warn('Failed to read root certificate file');
  diag.error('export response failure (status: 400)');
  diag.info('below WARN: not logged');
  assert.deepEqual(
    lines.map((l) => [l.level, l.otel, l.msg]),
    [
      [40, true, 'Failed to read root certificate file'],
      [50, true, 'export response failure (status: 400)'],
    ],
  );
});

test('100 identical messages within the window are one line; the next one after it carries the count held back', (t) => {
  let clock = 0;
  const lines = bridged(t, { now: () => clock });
  for (let i = 0; i < 100; i++, clock += 100) diag.warn('Dropped 1 spans because maxQueueSize reached');
  // Differing only in a number: the same kind of message, held back too.
  diag.warn('Dropped 37 spans because maxQueueSize reached');
  diag.warn('another message');
  assert.deepEqual(
    lines.map((l) => l.msg),
    ['Dropped 1 spans because maxQueueSize reached', 'another message'],
  );
  clock += OTEL_DIAG_WINDOW_MS;
  diag.warn('Dropped 5 spans because maxQueueSize reached');
  const last = lines.at(-1)!;
  assert.equal(last.otelHeldBack, 100);
  assert.match(last.msg, /^Dropped 5 spans because maxQueueSize reached \(100 more like it held back/);
  assert.equal(lines.length, 3);
});

test('many distinct messages cannot flood the log either: past 100 kinds in a window they share one', (t) => {
  const lines = bridged(t, { now: () => 0 });
  for (let i = 0; i < 1000; i++) diag.warn(`Invalid attribute key: k${String.fromCharCode(97 + (i % 26))}${String.fromCharCode(97 + Math.floor(i / 26))}`);
  assert.equal(lines.length, 101);
});

test('a failed export keyway already warned of is not told again by the SDK at error, only at debug; nor is OTEL_TRACES_SAMPLER judged by the SDK', async (t) => {
  const lines = bridged(t);
  const failing: SpanExporter = {
    export: (_spans, done) => done({ code: 1, error: new Error('connect ECONNREFUSED 127.0.0.1:4318') }),
    shutdown: async () => {},
  };
  const told: string[] = [];
  const tracing = startTracing({
    // A batch of 1: each span goes out at once, and the processor hands the failure to the SDK's global error handler.
    env: { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:4318', OTEL_BSP_MAX_EXPORT_BATCH_SIZE: '1' },
    exporter: failing,
    onExportHealth: (e) => told.push(e.kind),
  });
  t.after(() => tracing.shutdown().catch(() => {}));
  trace.getTracer('otel-diag-test').startSpan('one').end();
  const debug = await eventually('the SDK telling the failure', () => lines.find((l) => l.otel && l.msg.includes('ECONNREFUSED')));
  assert.equal(debug.level, 20, `told at debug: ${JSON.stringify(debug)}`);
  assert.deepEqual(told, ['failing'], 'keyway told it');
  // keyway reads OTEL_TRACES_SAMPLER itself, in any case; the SDK calls TraceIdRatio invalid.
  diag.error('OTEL_TRACES_SAMPLER value "TraceIdRatio" invalid, defaulting to "parentbased_always_on".');
  assert.deepEqual(
    lines.filter((l) => l.level >= 40).map((l) => l.msg),
    [],
  );
});

const CHILD = fileURLToPath(new URL('./support/diag-drops.ts', import.meta.url));

test('end to end: a collector that never answers, with OTEL_BSP_MAX_QUEUE_SIZE=1, logs the spans dropped; an unreadable OTEL_EXPORTER_OTLP_CERTIFICATE is logged', async (t) => {
  const sockets: Socket[] = [];
  // Accepts and never answers.
  const collector = createServer((s) => {
    sockets.push(s);
    s.on('error', () => {});
  });
  await new Promise<void>((resolve) => collector.listen(0, '127.0.0.1', resolve));
  t.after(() => {
    for (const s of sockets) s.destroy();
    collector.close();
  });
  const base = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('OTEL_')));
  const child = spawn(process.execPath, ['--import', 'tsx', CHILD], {
    env: {
      ...base,
      OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${(collector.address() as AddressInfo).port}`,
      OTEL_BSP_MAX_QUEUE_SIZE: '1',
      OTEL_EXPORTER_OTLP_TIMEOUT: '300',
      OTEL_EXPORTER_OTLP_CERTIFICATE: '/nonexistent/keyway-test-ca.pem',
      OTEL_TRACES_SAMPLER: 'TraceIdRatio',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
  const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
  clearTimeout(timer);
  assert.equal(code, 0, stderr.slice(-2000));
  const lines = stdout
    .split('\n')
    .filter((s) => s.startsWith('{'))
    .map((s) => JSON.parse(s) as Line);
  const otel = lines.filter((l) => l.otel === true);
  const said = JSON.stringify(lines, null, 1);
  assert.ok(
    otel.some((l) => l.level === 40 && /^Dropped \d+ spans because maxQueueSize reached/.test(l.msg)),
    said,
  );
  assert.ok(
    otel.some((l) => l.level === 40 && l.msg === 'Failed to read root certificate file'),
    said,
  );
  // The failed exports: keyway's own warning, and the SDK's copy of them only at debug.
  assert.ok(lines.some((l) => l.otel === undefined && l.level === 40 && /failing/.test(l.msg)), said);
  assert.deepEqual(
    otel.filter((l) => l.level >= 50).map((l) => l.msg),
    [],
    said,
  );
});
