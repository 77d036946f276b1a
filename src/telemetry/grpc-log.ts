/**
 * grpc-js's own log in keyway's log (docs/observability.md "Logs"). grpc-js writes its messages
 * with `console.error`, to stderr, outside keyway's log and its bound on lines waiting for a slow
 * reader. Some are written once per call a client makes: a call whose metadata grpc-js refuses (a
 * header name such as `x!y`, a value with a byte past ASCII) writes "Failed to add metadata entry"
 * with the header quoted, so any client of the xDS or ext_proc port could fill stderr at will, and
 * with stderr's reader stalled (a container runtime behind on its disk) each line waited in memory.
 * Its errors become `warn` lines with `grpc: true`, rate-limited per kind of message like the
 * OpenTelemetry SDK's (otel-diag.ts); the messages it writes only when GRPC_VERBOSITY or GRPC_TRACE
 * ask for them become `info` lines, bounded like every line of the log.
 */
import { format } from 'node:util';
import { setLogger } from '@grpc/grpc-js';
import { diagRateLimit, MAX_OTEL_DIAG_CHARS, OTEL_DIAG_WINDOW_MS } from './otel-diag.js';

/** What the bridge writes to: a pino logger, or anything with the same two methods. */
export interface GrpcLogSink {
  warn(obj: object, msg: string): void;
  info(obj: object, msg: string): void;
}

export interface GrpcLogOptions {
  /** One error line per kind of message per this long; the others are counted. Default 60 s. */
  readonly windowMs?: number;
  /** Clock, ms (tests); default monotonic. */
  readonly now?: () => number;
}

/** Characters of a grpc-js message kept (4096, as for the SDK's): a header value can be 16 KiB. */
export const MAX_GRPC_LOG_CHARS = MAX_OTEL_DIAG_CHARS;

/** grpc-js's severities: errors by default; info and debug only when GRPC_VERBOSITY or GRPC_TRACE ask. */
type GrpcSeverity = 'error' | 'info' | 'debug';

/**
 * grpc-js errors that quote what a client sent (a refused header's name and value): one kind each,
 * whatever the quote. Keyed on the whole text, a client varying its header made a kind per call:
 * 100 lines a minute, and grpc-js's other errors pushed into the one shared past 100 kinds.
 */
const CLIENT_QUOTED = [/^Failed to add metadata entry /];

/** The rate limit's kind of a message: its fixed start when it quotes a client, else the text. */
function kindOf(text: string): string {
  for (const start of CLIENT_QUOTED) {
    const m = start.exec(text);
    if (m) return m[0];
  }
  return text;
}

function cut(text: string): string {
  return text.length <= MAX_GRPC_LOG_CHARS ? text : `${text.slice(0, MAX_GRPC_LOG_CHARS)}… (${text.length} characters, cut)`;
}

/**
 * Installs grpc-js's logger, writing to `log`; returns what puts grpc-js's own (stderr) back.
 * grpc-js has one logger per process: keyway serve installs it, the libraries (keyway/agent,
 * keyway/grpc) leave the application's alone.
 */
export function installGrpcLog(log: GrpcLogSink, opts: GrpcLogOptions = {}): () => void {
  const admit = diagRateLimit(opts.windowMs ?? OTEL_DIAG_WINDOW_MS, opts.now ?? ((): number => performance.now()));
  const write = (severity: GrpcSeverity, args: unknown[]): void => {
    try {
      const text = cut(format(...args));
      if (severity !== 'error') {
        log.info({ grpc: true, grpcSeverity: severity }, text);
        return;
      }
      const pass = admit(kindOf(text));
      if (!pass) return;
      const fields = { grpc: true, ...(pass.heldBack > 0 ? { grpcHeldBack: pass.heldBack } : {}) };
      log.warn(fields, pass.heldBack > 0 ? `${text} (${pass.heldBack} more like it held back since the last such line)` : text);
    } catch {
      // grpc-js calls this from inside a call's handling: a logger that throws must not break it
    }
  };
  setLogger({
    error: (...args: unknown[]) => write('error', args),
    info: (...args: unknown[]) => write('info', args),
    debug: (...args: unknown[]) => write('debug', args),
  });
  return () => setLogger(GRPC_DEFAULT_LOGGER);
}

/** grpc-js's own logger (not exported by it): its messages on stderr, prefixed with their level letter. */
const GRPC_DEFAULT_LOGGER = {
  error: (message: unknown, ...rest: unknown[]) => console.error(`E ${String(message)}`, ...rest),
  info: (message: unknown, ...rest: unknown[]) => console.error(`I ${String(message)}`, ...rest),
  debug: (message: unknown, ...rest: unknown[]) => console.error(`D ${String(message)}`, ...rest),
};
