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
