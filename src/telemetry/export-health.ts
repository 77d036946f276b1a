/**
 * Trace export failures made visible (docs/observability.md "Traces"): the batch processor drops
 * the spans of a failed export without a word, so an unreachable collector looked like tracing
 * that works. This exporter wrapper reports the first failure of a run of them and the recovery,
 * once each, never per batch.
 */
import type { ReadableSpan, SpanExporter } from '@opentelemetry/sdk-trace-base';

/** What the wrapper says: a failure (with the exporter's error) or that exports succeed again. */
export type ExportHealthEvent = { readonly kind: 'failing'; readonly error: string } | { readonly kind: 'recovered'; readonly failedBatches: number };

/** `exporter`, calling `report` when its exports start failing and when they succeed again. */
export function withExportHealth(exporter: SpanExporter, report: (e: ExportHealthEvent) => void): SpanExporter {
  let failedBatches = 0;
  const tell = (e: ExportHealthEvent): void => {
    try {
      report(e);
    } catch {
      // a logger that throws must not break the exporter
    }
  };
  return {
    export(spans: ReadableSpan[], done) {
      exporter.export(spans, (result) => {
        // ExportResultCode: 0 is SUCCESS, 1 FAILED (@opentelemetry/core, not a dependency of keyway's own).
        if (result.code === 0) {
          if (failedBatches > 0) tell({ kind: 'recovered', failedBatches });
          failedBatches = 0;
        } else {
          if (failedBatches === 0) tell({ kind: 'failing', error: result.error?.message ?? 'unknown error' });
          failedBatches++;
        }
        done(result);
      });
    },
    shutdown: () => exporter.shutdown(),
    ...(exporter.forceFlush ? { forceFlush: () => exporter.forceFlush!() } : {}),
  };
}
