/**
 * A child process for the diag bridge end to end: installs it as `keyway serve` does (a pino log
 * on stdout, export health told as warn), starts tracing from its own environment, ends spans
 * while the collector never answers, then a last span once an export has timed out.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { trace } from '@opentelemetry/api';
import { pino } from 'pino';
import { installOtelDiagLog, startTracing } from '../../../src/telemetry/index.js';

const log = pino({ name: 'keyway', level: 'debug' }, pino.destination({ dest: 1, sync: true }));
installOtelDiagLog(log);
startTracing({ onExportHealth: (e) => log.warn({ exportHealth: e }, `trace export: ${e.kind}`) });
const tracer = trace.getTracer('diag-drops');
// With a queue of 1: the first span goes out (and hangs), the second waits, the rest are dropped.
for (let i = 0; i < 10; i++) tracer.startSpan(`s${i}`).end();
// Past the exporter's timeout (OTEL_EXPORTER_OTLP_TIMEOUT): the queue has room again, and the
// next span makes the processor tell how many it dropped.
await sleep(1500);
tracer.startSpan('last').end();
await sleep(200);
process.exit(0);
