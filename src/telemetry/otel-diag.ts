/**
 * The OpenTelemetry SDK's diagnostic messages in keyway's log (docs/observability.md "Traces").
 * The SDK tells some things only to its diagnostic logger (`diag` of @opentelemetry/api): spans
 * the batch processor dropped because its queue was full, a TLS file named by
 * OTEL_EXPORTER_OTLP_CERTIFICATE it cannot read. With no logger installed they went nowhere.
 * Its WARN and ERROR messages become `warn` and `error` lines with `otel: true`, rate-limited:
 * a collector that is down repeats the same message for every batch.
 */
import { inspect } from 'node:util';
import { diag, DiagLogLevel, type DiagLogger } from '@opentelemetry/api';
import { EXPORT_REPORTED_MARK } from './export-health.js';

/** What the bridge writes to: a pino logger, or anything with the same three methods. */
export interface OtelDiagSink {
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
  debug(obj: object, msg: string): void;
}

export interface OtelDiagOptions {
  /** One line per kind of message per this long; the others are counted. Default 60 s. */
  readonly windowMs?: number;
  /** Clock, ms (tests); default monotonic. */
  readonly now?: () => number;
}

/** Default of `windowMs`. */
export const OTEL_DIAG_WINDOW_MS = 60_000;

/**
 * Characters of a diagnostic message kept, for the line and as its kind's key: the SDK quotes what
 * the collector answered (a partial success's JSON, up to the exporter's 4 MiB response limit), so
 * a collector made lines of megabytes, and 100 kinds of them held hundreds of MB.
 */
export const MAX_OTEL_DIAG_CHARS = 4096;

/**
 * Messages at debug, not for operators: verdicts on variables the SDK reads although keyway passes
 * what it decided from them (otel-env.ts warns of a bad value itself; the SDK calls `TraceIdRatio`,
 * valid in keyway's reading, invalid, and names a fallback keyway does not use).
 */
const NOT_FOR_OPERATORS = /^OTEL_TRACES_SAMPLER(_ARG)?\b/;

/** Kinds of message tracked at once; past it, new kinds share one window, so distinct texts cannot flood the log either. */
const MAX_KINDS = 100;
const OTHER_KINDS = '\u0000other';

/**
 * A rate limit per kind of message: the first of a kind is let through, the next ones within
 * `windowMs` are held back and counted; the first let through after the window carries the count.
 * Texts that differ only in their numbers ("Dropped 12 spans", "Dropped 40 spans") are one kind.
 */
export function diagRateLimit(windowMs: number, now: () => number): (text: string) => { readonly heldBack: number } | undefined {
  const kinds = new Map<string, { until: number; heldBack: number }>();
  return (text) => {
    const at = now();
    let kind = text.replace(/\d+/g, '#');
    if (!kinds.has(kind) && kinds.size >= MAX_KINDS) {
      for (const [k, w] of kinds) if (at >= w.until) kinds.delete(k);
      if (kinds.size >= MAX_KINDS) kind = OTHER_KINDS;
    }
    const window = kinds.get(kind);
    if (window && at < window.until) {
      window.heldBack++;
      return undefined;
    }
    kinds.set(kind, { until: at + windowMs, heldBack: 0 });
    return { heldBack: window?.heldBack ?? 0 };
  };
}

/**
 * Installs the SDK's diagnostic logger, writing to `log`; returns what uninstalls it. Call before
 * tracing starts: the exporter reads its TLS files, and warns of them, when it is made.
 */
export function installOtelDiagLog(log: OtelDiagSink, opts: OtelDiagOptions = {}): () => void {
  const windowMs = opts.windowMs ?? OTEL_DIAG_WINDOW_MS;
  const admit = diagRateLimit(windowMs, opts.now ?? ((): number => performance.now()));
  const write = (level: 'warn' | 'error', message: string, args: unknown[]): void => {
    try {
      const whole = [message, ...args.map((a) => (typeof a === 'string' ? a : inspect(a, { depth: 2, breakLength: Infinity })))].join(' ');
      const text = whole.length <= MAX_OTEL_DIAG_CHARS ? whole : `${whole.slice(0, MAX_OTEL_DIAG_CHARS)}… (${whole.length} characters, cut)`;
      // The global error handler's JSON of a failed export keyway's export-health already told,
      // or a message not for operators: kept, at debug. The mark is looked for in the whole text:
      // it comes last, after the collector's answer the cut may drop.
      const told = (level === 'error' && whole.includes(`"${EXPORT_REPORTED_MARK}":"true"`)) || NOT_FOR_OPERATORS.test(text);
      const pass = admit(text);
      if (!pass) return;
      const fields = { otel: true, ...(pass.heldBack > 0 ? { otelHeldBack: pass.heldBack } : {}) };
      const line = pass.heldBack > 0 ? `${text} (${pass.heldBack} more like it held back since the last such line)` : text;
      log[told ? 'debug' : level](fields, line);
    } catch {
      // the SDK calls this from inside its own work: a logger that throws must not break it
    }
  };
  const logger: DiagLogger = {
    error: (message, ...args) => write('error', message, args),
    warn: (message, ...args) => write('warn', message, args),
    // below WARN the API does not call these (logLevel)
    info: () => {},
    debug: () => {},
    verbose: () => {},
  };
  diag.setLogger(logger, { logLevel: DiagLogLevel.WARN, suppressOverrideMessage: true });
  return () => diag.disable();
}
