// The quiet time between trace-export failure warnings runs on the monotonic clock by default
// (src/telemetry/export-health.ts): a wall clock stepped back (an NTP correction, a VM resumed)
// after a warning silenced the next run of failures for as long as the clock went back.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ReadableSpan, SpanExporter } from '@opentelemetry/sdk-trace-base';
import { withExportHealth, type ExportHealthEvent } from '../../src/telemetry/export-health.js';

test('a run of failures after the quiet time is told though the wall clock stepped back an hour', async (t) => {
  const real = Date.now.bind(Date);
  let wallOffset = 0;
  t.mock.method(Date, 'now', () => real() + wallOffset);
  const outcomes = [1, 0, 1];
  const inner: SpanExporter = {
    export: (_spans, done) => {
      const code = outcomes.shift()!;
      done(code === 0 ? { code } : { code, error: new Error('connect ECONNREFUSED 127.0.0.1:4318') });
    },
    shutdown: async () => {},
  };
  const events: ExportHealthEvent[] = [];
  const exporter = withExportHealth(inner, (e) => events.push(e), { quietMs: 50 });
  const once = (): Promise<unknown> => new Promise((resolve) => exporter.export([] as ReadableSpan[], resolve));
  await once();
  await once();
  wallOffset = -3_600_000;
  await sleep(100);
  await once();
  assert.deepEqual(
    events.map((e) => e.kind),
    ['failing', 'recovered', 'failing'],
  );
});
