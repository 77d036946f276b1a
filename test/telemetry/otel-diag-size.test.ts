/**
 * The SDK quotes what the collector answered in its diagnostics (a partial success's JSON, up to
 * the exporter's 4 MiB response limit): each such message is one log line, and its text the key of
 * its rate-limit window. Both are cut to MAX_OTEL_DIAG_CHARS, with the length it had.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { diag } from '@opentelemetry/api';
import { pino } from 'pino';
import { installOtelDiagLog } from '../../src/telemetry/index.js';
import { EXPORT_REPORTED_MARK } from '../../src/telemetry/export-health.js';

test('a diagnostic quoting megabytes from the collector is one line under 8 KiB saying how long it was', (t) => {
  const lines: string[] = [];
  const uninstall = installOtelDiagLog(pino({ level: 'debug' }, { write: (s: string) => void lines.push(s) }));
  t.after(uninstall);
  const answer = JSON.stringify({ rejectedSpans: 3, errorMessage: 'z'.repeat(2 << 20) });
  diag.warn('Received Partial Success response:', answer);
  assert.equal(lines.length, 1);
  assert.ok(lines[0]!.length < 8192, `a line of ${lines[0]!.length} bytes`);
  const line = JSON.parse(lines[0]!) as { msg: string; otel: boolean };
  assert.equal(line.otel, true);
  assert.match(line.msg, /^Received Partial Success response: \{"rejectedSpans":3,"errorMessage":"z+… \(\d+ characters, cut\)$/);
});

test("a failed export keyway already told stays at debug when the collector's answer in it is long", (t) => {
  const lines: string[] = [];
  const uninstall = installOtelDiagLog(pino({ level: 'debug' }, { write: (s: string) => void lines.push(s) }));
  t.after(uninstall);
  // The exporter's error carries the collector's answer (`data`, a proxy's 502 page, say); the
  // SDK's global error handler (@opentelemetry/core's loggingErrorHandler) writes the error's own
  // properties, as strings, in JSON: keyway's mark, set last, comes last.
  const error = Object.assign(new Error('Bad Gateway'), { name: 'OTLPExporterError', code: 502, data: `<html>${'x'.repeat(10_000)}</html>` });
  Object.defineProperty(error, EXPORT_REPORTED_MARK, { value: true, enumerable: true, configurable: true });
  const flat = Object.fromEntries(Object.getOwnPropertyNames(error).map((k) => [k, String((error as unknown as Record<string, unknown>)[k])]));
  diag.error(JSON.stringify(flat));
  assert.equal(lines.length, 1);
  const line = JSON.parse(lines[0]!) as { level: number; msg: string };
  assert.equal(line.level, 20, `told by export-health already: debug, not level ${line.level}`);
  assert.ok(lines[0]!.length < 8192, `a line of ${lines[0]!.length} bytes`);
});
