/**
 * Trace export failures made visible (docs/observability.md "Traces"): the batch processor drops
 * the spans of a failed export without a word, so an unreachable collector looked like tracing
 * that works. This exporter wrapper reports the first failure of a run of them and the recovery,
 * once each, never per batch; and a collector that fails every other batch (one bad backend
 * behind a balancer) is warned of at most once per `quietMs`, not once per pair of batches.
 */
import type { ReadableSpan, SpanExporter } from '@opentelemetry/sdk-trace-base';

/**
 * What the wrapper says: a failure (with the exporter's error) or that exports succeed again, with
 * the batches dropped since the previous `recovered` (runs that were not warned of included).
 */
export type ExportHealthEvent = { readonly kind: 'failing'; readonly error: string } | { readonly kind: 'recovered'; readonly failedBatches: number };

export interface ExportHealthOptions {
  /** A run of failures starting within this long of the last `failing` is not told; its batches count in the next `recovered`. Default 60 s. */
  readonly quietMs?: number;
  /** Clock, ms (tests); default monotonic, so a wall clock stepped back does not silence the next warning for the step. */
  readonly now?: () => number;
}

const QUIET_MS = 60_000;

/**
 * Property set on the error of every failed export this wrapper saw. The batch processor hands that
 * error on to the SDK's global error handler, which writes it to the diagnostic logger as JSON of
 * the error's own properties: the diag bridge (otel-diag.ts) finds the mark there and logs that
 * line at debug, since this wrapper already told the failure (once per run, not once per batch).
 */
export const EXPORT_REPORTED_MARK = 'keywayExportReported';

/** `error`, marked as told by keyway; a fresh error when there is none or it cannot take the mark. */
function markReported(error: Error | undefined): Error {
  const marked = error ?? new Error('span export failed');
  try {
    Object.defineProperty(marked, EXPORT_REPORTED_MARK, { value: true, enumerable: true, configurable: true });
    return marked;
  } catch {
    // a frozen error: the SDK reads only its name and message
    const copy = new Error(marked.message, { cause: marked });
    copy.name = marked.name;
    return markReported(copy);
  }
}

/** `exporter`, calling `report` when its exports start failing and when they succeed again. */
export function withExportHealth(exporter: SpanExporter, report: (e: ExportHealthEvent) => void, opts: ExportHealthOptions = {}): SpanExporter {
  const quietMs = opts.quietMs ?? QUIET_MS;
  const now = opts.now ?? ((): number => performance.now());
  /** Failed batches since the last `recovered`. */
  let failedBatches = 0;
  /** A `failing` was told and no `recovered` since. */
  let failing = false;
  let failingToldAt = -Infinity;
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
          if (failing) {
            tell({ kind: 'recovered', failedBatches });
            failedBatches = 0;
            failing = false;
          }
        } else {
          failedBatches++;
          const at = now();
          if (!failing && at - failingToldAt >= quietMs) {
            failing = true;
            failingToldAt = at;
            tell({ kind: 'failing', error: result.error?.message ?? 'unknown error' });
          }
          done({ ...result, error: markReported(result.error) });
          return;
        }
        done(result);
      });
    },
    shutdown: () => exporter.shutdown(),
    ...(exporter.forceFlush ? { forceFlush: () => exporter.forceFlush!() } : {}),
  };
}
