/**
 * `keyway serve` as the CLI runs it (README "Running keyway"): trace export when the standard
 * OpenTelemetry variables ask for it, the runner with every stage and the Kubernetes source,
 * SIGTERM/SIGINT for a graceful stop and SIGHUP to re-read the topology file.
 * Exit status: 0 graceful shutdown, 1 runtime failure, 2 invalid topology file.
 */
import { constants, openSync, writeSync } from 'node:fs';
import { isatty } from 'node:tty';
import { type Logger, pino } from 'pino';
import { adminTokenFault } from '../core/admin-token.js';
import { isConfigError, type KeywayError, KeywayErrors } from '../core/errors.js';
import { createKeywayMetrics, installGrpcLog, installOtelDiagLog, startTracing, type Tracing } from '../telemetry/index.js';
import { type RunningServer, startServer } from './runner.js';
import type { XdsTlsSettings } from '../xds/server/index.js';
import { readBoundedFile, UnreadableFileError } from '../config/bounded-file.js';
import { kubernetesSourceFactory, serveStages } from './wiring.js';
import { releaseYoungGeneration } from './young-generation.js';
import { takeHeldSignals } from './held-signals.js';

/** What `keyway serve` was asked on its command line. */
export interface ServeCommandOptions {
  readonly config: string;
  readonly httpPort: number;
  readonly xdsPort: number;
  /** The endpoint picker's port (`--ext-proc-port`); absent: no picker. */
  readonly extProcPort?: number;
  readonly host: string;
  /** Interface of the REST API (`--admin-host`); the CLI's default depends on Kubernetes. */
  readonly adminHost?: string;
  /** File with the admin bearer token (`--admin-token-file`). */
  readonly adminTokenFile?: string;
  /** TLS for the xDS port (`--xds-tls-*`). */
  readonly xdsTls?: XdsTlsSettings;
  readonly logLevel: string;
}

/** Bound on flushing the last spans at exit, so an unreachable collector cannot hold the shutdown. */
const TRACE_FLUSH_TIMEOUT_MS = 5000;

/**
 * `keyway serve` with trace export: on only when the standard OpenTelemetry variables ask for it
 * (docs/observability.md "Traces"); the last spans are flushed before the process exits.
 */
export async function serveCommand(cmd: ServeCommandOptions): Promise<number> {
  const { log, flush: flushLog } = stdoutLogger(cmd.logLevel);
  installOtelDiagLog(log);
  installGrpcLog(log);
  const tracing = startTracing({
    onExportHealth: (e) =>
      e.kind === 'failing'
        ? log.warn({ error: e.error }, `trace export to ${tracing.config.endpoint ?? 'the collector'} failed; its spans are dropped until an export succeeds: ${e.error}`)
        : log.info({ failedBatches: e.failedBatches }, `trace export works again (${e.failedBatches} batches of spans were dropped)`),
  });
  const { enabled, reason, endpoint, serviceName, warnings } = tracing.config;
  log.info({ tracing: { enabled, reason, serviceName, ...(endpoint ? { endpoint } : {}) } }, enabled ? `tracing on: ${endpoint}` : `tracing off: ${reason}`);
  for (const w of warnings) log.warn(w);
  // Listening before the start: a start can wait a minute for the Kubernetes API, and a signal
  // meanwhile must end it as documented (SIGTERM/SIGINT exit 0), not kill the process (143, 129).
  const signals = listenForSignals(log);
  let code = 1;
  try {
    code = await serveUntilStopped(cmd, log, signals);
  } finally {
    // A second signal exits at once (README "Running keyway"), so it also cuts the trace flush short.
    if ((await stopTracing(tracing, log, signals.again)) === 'interrupted') code = 1;
    // The last lines ("stopped", a shutdown error) may still wait for a slow reader.
    if ((await flushLog(signals.again)) === 'interrupted') code = 1;
  }
  return code;
}

/**
 * Log bytes kept while stdout's reader takes none (1 MiB): past it, new lines are dropped until it
 * reads again; stderr says so (once), and the log counts the lines lost once the reader is back.
 */
export const LOG_BUFFER_MAX_BYTES = 1_048_576;

/** How often lines waiting for a reader that takes none are offered to it again, ms. */
const LOG_RETRY_MS = 100;

/**
 * How long the exit waits for stdout's reader to take the lines still waiting (2 s): the process
 * exits without them otherwise. Past it, or at a second signal, stderr says they are lost.
 */
export const LOG_EXIT_FLUSH_MS = 2000;

/** The serve log and the flush of what waits in it at exit. */
interface StdoutLog {
  readonly log: Logger;
  /** Waits, at most LOG_EXIT_FLUSH_MS or until `interrupt` (then 'interrupted'), for the lines still waiting to be taken. */
  flush(interrupt: Promise<unknown>): Promise<'done' | 'interrupted'>;
}

/**
 * The JSON log on stdout. A synchronous destination: pino registers no flush at exit for it (the
 * asynchronous default's exit flush retries a failed write for ever, so `keyway serve | head`, or
 * a log reader that went away, made SIGTERM hang after "stopped"). A reader that stays but stops
 * reading (a full pipe: a paused `| less`, a container log driver that blocks) must not stop
 * keyway either: sonic-boom retried the write every 100 ms inside the event loop, so /healthz,
 * /readyz and every xDS stream stalled with the log. Lines wait in a bounded buffer instead.
 */
function stdoutLogger(level: string): StdoutLog {
  const notice = stderrNotice();
  const dest = pino.destination({ dest: ownTerminal(1) ?? 1, sync: true, retryEAGAIN: () => false, maxLength: LOG_BUFFER_MAX_BYTES });
  let retry: NodeJS.Timeout | undefined;
  // Lines wait from a refused write until sonic-boom's 'drain' (a write that left nothing behind),
  // unless a write was refused again after that one: its 'drain' comes a tick later.
  let waiting = false;
  // A write failed with an error other than a full pipe, told once on stderr until a write succeeds.
  let failing = false;
  let refusals = 0;
  let refusalsAtWrite = 0;
  let drained: (() => void) | undefined;
  dest.on('write', () => (refusalsAtWrite = refusals));
  dest.on('drain', () => {
    if (refusals !== refusalsAtWrite) return;
    waiting = false;
    failing = false;
    drained?.();
  });
  // pino's own listener stops logging on EPIPE (the reader went away) and rethrows the rest, which
  // crashed keyway at its next line when stdout is a file on a full disk (ENOSPC) or a terminal
  // gone (EIO). A full pipe (EAGAIN) is no error here, and a failed write keeps serving too: the
  // lines stay buffered within the bound, offered again on a timer (an empty write sends what
  // waits) as well as with the next line.
  dest.removeAllListeners('error');
  dest.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') {
      waiting = false;
      drained?.();
      dest.write = () => true;
      dest.flushSync = () => {};
      return;
    }
    if (err.code !== 'EAGAIN' && err.code !== 'EBUSY' && !failing) {
      failing = true;
      notice(`keyway: writing the log to stdout fails (${err.message}); lines wait, at most ${LOG_BUFFER_MAX_BYTES} bytes, and are offered again every ${LOG_RETRY_MS} ms\n`);
    }
    waiting = true;
    refusals++;
    retry ??= setTimeout(() => {
      retry = undefined;
      dest.write('');
    }, LOG_RETRY_MS).unref();
  });
  const log = pino({ name: 'keyway', level }, dest);
  let dropped = 0;
  let told = false;
  let reporting = false;
  dest.on('drop', () => {
    dropped++;
    if (told) return;
    told = true;
    notice(`keyway: stdout's reader takes no log lines; past ${LOG_BUFFER_MAX_BYTES} bytes waiting, new ones are dropped until it reads again\n`);
  });
  dest.on('write', () => {
    if (dropped === 0 || reporting) return;
    // Not from inside the write under way: the buffer it is emptying still counts as full.
    reporting = true;
    setImmediate(() => {
      reporting = false;
      const lost = dropped;
      dropped = 0;
      log.warn({ droppedLogLines: lost }, `${lost} log lines were dropped while stdout's reader took none`);
    });
  });
  const flush = async (interrupt: Promise<unknown>): Promise<'done' | 'interrupted'> => {
    if (!waiting) return 'done';
    let timer: NodeJS.Timeout | undefined;
    const taken = new Promise<'taken'>((resolve) => (drained = () => resolve('taken')));
    const timeout = new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), LOG_EXIT_FLUSH_MS)));
    // Offered again now too: the retry timer is unref'd and may not be set.
    dest.write('');
    const r = waiting ? await Promise.race([taken, timeout, interrupt.then(() => 'interrupted' as const)]) : 'taken';
    clearTimeout(timer);
    drained = undefined;
    if (r !== 'taken') notice(`keyway: exiting with log lines stdout's reader did not take (${r === 'timeout' ? `not within ${LOG_EXIT_FLUSH_MS} ms` : 'second signal'}); they are lost\n`);
    return r === 'interrupted' ? 'interrupted' : 'done';
  };
  return { log, flush };
}

/**
 * For a terminal on `fd` (stdout, stderr), a descriptor of the log's own, non-blocking; undefined
 * otherwise. Node makes stdout and stderr blocking when they are a terminal, so a terminal that
 * took no output (Ctrl-S, an ssh session whose network stalled, `docker run -t` behind a slow log
 * driver) stopped keyway whole: a pipe's stdout is non-blocking already. Opened anew because
 * stdin and the shell share the terminal's descriptor, which must stay blocking.
 */
function ownTerminal(fd: 1 | 2): number | undefined {
  if (!isatty(fd)) return undefined;
  try {
    return openSync(`/proc/self/fd/${fd}`, constants.O_WRONLY | constants.O_NONBLOCK | constants.O_NOCTTY);
  } catch {
    return undefined;
  }
}

/**
 * Writes the log's own notices to stderr. A terminal that takes nothing now loses the notice
 * rather than stopping keyway; a pipe's stderr queues it (a few lines in all).
 */
function stderrNotice(): (text: string) => void {
  const fd = ownTerminal(2);
  if (fd === undefined) return (text) => void process.stderr.write(text);
  return (text) => {
    try {
      writeSync(fd, text);
    } catch {
      // EAGAIN: the terminal is full; the log goes on without this notice
    }
  };
}

/** Flushes and stops trace export, within TRACE_FLUSH_TIMEOUT_MS or until `interrupt` (a second signal). */
async function stopTracing(tracing: Tracing, log: Logger, interrupt: Promise<unknown>): Promise<'done' | 'interrupted'> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), TRACE_FLUSH_TIMEOUT_MS)));
  try {
    const r = await Promise.race([tracing.shutdown().then(() => 'done' as const), timeout, interrupt.then(() => 'interrupted' as const)]);
    if (r === 'timeout') log.warn(`trace export did not finish within ${TRACE_FLUSH_TIMEOUT_MS} ms; some spans may be lost`);
    if (r === 'interrupted' && tracing.config.enabled) log.warn('second signal: trace export abandoned; spans not yet exported are lost');
    return r === 'interrupted' ? 'interrupted' : 'done';
  } catch (err) {
    log.warn({ err }, 'flushing traces failed');
    return 'done';
  } finally {
    clearTimeout(timer);
  }
}

async function serveUntilStopped(cmd: ServeCommandOptions, log: Logger, signals: ServeSignals): Promise<number> {
  const starting = startKeyway(cmd, log);
  const first = await Promise.race([
    starting.then((server) => ({ server }), (err: unknown) => ({ err })),
    signals.stop.then((signal) => ({ signal })),
  ]);
  // Start-up's allocations are over: from here the young generation grows as traffic needs it.
  releaseYoungGeneration();
  if ('signal' in first) {
    // Nothing serves yet: the start is given up and the process exits; one that completes first is closed.
    log.info({ signal: first.signal }, 'signal during start-up: start abandoned');
    void starting.then((server) => server.close()).catch(() => {});
    return 0;
  }
  if ('err' in first) return startFailure(first.err, log);
  const running = first.server;
  signals.onReload(() => {
    log.info('SIGHUP: re-reading the topology file');
    void running.reload();
  });
  const signal = await signals.stop;
  log.info({ signal }, 'shutting down');
  const closed = running.close().then(
    () => {
      log.info('stopped');
      return 0;
    },
    (err: unknown) => {
      log.error({ err }, 'shutdown failed');
      return 1;
    },
  );
  const again = signals.again.then(() => {
    log.warn({ signal }, 'second signal: exiting now');
    return 1;
  });
  return Promise.race([closed, again]);
}

/** Reads the admin token, then starts the runner with every stage. */
async function startKeyway(cmd: ServeCommandOptions, log: Logger): Promise<RunningServer> {
  const adminToken = cmd.adminTokenFile !== undefined ? await readAdminToken(cmd.adminTokenFile) : undefined;
  return startServer({
    configFile: cmd.config,
    httpPort: cmd.httpPort,
    xdsPort: cmd.xdsPort,
    host: cmd.host,
    ...(cmd.adminHost !== undefined ? { adminHost: cmd.adminHost } : {}),
    ...(adminToken !== undefined ? { adminToken } : {}),
    logger: log,
    kubernetesSource: kubernetesSourceFactory,
    stages: serveStages({ metrics: createKeywayMetrics({ processMetrics: true }), ...(cmd.xdsTls ? { xdsTls: cmd.xdsTls } : {}), ...(cmd.extProcPort !== undefined ? { extProcPort: cmd.extProcPort } : {}) }),
  });
}

/** The exit status of a start that failed: 2 for an invalid topology file, else 1. */
function startFailure(err: unknown, log: Logger): number {
  if (isConfigError(err) && inTheFile(err)) {
    // Printed as plain lines too, so a person at a terminal reads `file:line:column: field: message`.
    log.fatal({ errors: errorList(err) }, 'invalid topology file');
    process.stderr.write(`keyway: invalid topology file:\n${err.message}\n`);
    return 2;
  }
  log.fatal({ err }, 'keyway failed to start');
  process.stderr.write(`keyway: failed to start: ${(err as Error).message}\n`);
  return 1;
}

/** The process signals `keyway serve` answers (README "Running keyway"). */
interface ServeSignals {
  /** The first SIGTERM or SIGINT. */
  readonly stop: Promise<NodeJS.Signals>;
  /** A later one: stop waiting for the graceful shutdown. */
  readonly again: Promise<NodeJS.Signals>;
  /** What SIGHUP does once keyway runs; one that came during start-up runs it at once. */
  onReload(reload: () => void): void;
}

/**
 * Takes over SIGTERM, SIGINT and SIGHUP, with those held since the command started loading
 * (held-signals.ts). The handlers stay until the process exits, so a signal during the trace
 * flush after shutdown does not kill it either.
 */
function listenForSignals(log: Logger): ServeSignals {
  let stops = 0;
  let onStop!: (s: NodeJS.Signals) => void;
  let onAgain!: (s: NodeJS.Signals) => void;
  const stop = new Promise<NodeJS.Signals>((resolve) => (onStop = resolve));
  const again = new Promise<NodeJS.Signals>((resolve) => (onAgain = resolve));
  const stopSignal = (signal: NodeJS.Signals): void => (stops++ === 0 ? onStop : onAgain)(signal);
  let reload: (() => void) | undefined;
  let reloadAsked = false;
  const reloadSignal = (): void => {
    if (reload) {
      reload();
      return;
    }
    // The start is reading the file already; a reload asked for meanwhile runs once keyway does.
    reloadAsked = true;
    log.info('SIGHUP during start-up: the topology file is re-read once keyway runs');
  };
  process.on('SIGTERM', stopSignal);
  process.on('SIGINT', stopSignal);
  process.on('SIGHUP', reloadSignal);
  // Those that came while the modules loaded, in order; taken in this same run, so none is lost.
  for (const signal of takeHeldSignals()) (signal === 'SIGHUP' ? reloadSignal : stopSignal)(signal);
  return {
    stop,
    again,
    onReload(fn) {
      reload = fn;
      if (reloadAsked) fn();
    },
  };
}

/**
 * The admin token: the file's content without surrounding white space (a Secret written with a
 * trailing newline works). Read once at start; a new token takes a restart (a rolling one in Kubernetes).
 * @throws Error when the file cannot be read or holds no usable token (the message never quotes it)
 */
async function readAdminToken(file: string): Promise<string> {
  let text: string;
  try {
    text = (await readBoundedFile(file, TOKEN_FILE_READ)).toString('utf8');
  } catch (err) {
    if (err instanceof UnreadableFileError) throw new Error(`--admin-token-file ${file}: ${err.message}`);
    throw new Error(`--admin-token-file ${file}: cannot read: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, { cause: err });
  }
  const token = text.trim();
  const problem = adminTokenProblem(token);
  if (problem !== undefined) throw new Error(`--admin-token-file ${file}: ${problem}`);
  return token;
}

/**
 * Largest admin token file read, in bytes (64 KiB; a token is some tens of bytes). Past it the
 * start fails naming the file: a wrong path or a runaway pipe is not read into memory.
 */
export const MAX_ADMIN_TOKEN_FILE_BYTES = 65_536;

/**
 * A regular file or a pipe (`--admin-token-file <(command)`, a FIFO), at most
 * MAX_ADMIN_TOKEN_FILE_BYTES; a pipe is read through the event loop, so waiting for its writer can
 * be given up (a signal); a device, a directory or a socket is refused before it is opened.
 */
const TOKEN_FILE_READ = { maxBytes: MAX_ADMIN_TOKEN_FILE_BYTES, limitName: 'MAX_ADMIN_TOKEN_FILE_BYTES', tooLarge: 'more than a token', allowPipe: true } as const;

/**
 * Why `token` cannot be the admin token (the rule of src/core/admin-token.ts), or undefined when it
 * can. Says where, never what the token is.
 */
export function adminTokenProblem(token: string): string | undefined {
  if (token === '') return 'must hold a token, got an empty file';
  const fault = adminTokenFault(token);
  if (fault === undefined) return undefined;
  return `must hold one token of visible ASCII characters (0x21-0x7e, as HTTP clients send them); character ${fault.position} of the token is ${fault.what}`;
}

/**
 * Is a configuration error the topology file's? Those are located in the file. The sharding stage
 * raises the same codes for Kubernetes endpoints (BUDGET_EXCEEDED when the cluster is past the work
 * budget at start), unlocated: the file is valid (`keyway check` accepts it), so that is a source
 * that cannot start (exit 1), not an invalid file.
 */
function inTheFile(err: KeywayError | KeywayErrors): boolean {
  const errors = err instanceof KeywayErrors ? err.errors : [err];
  return errors.some((e) => e.location.file !== undefined);
}

function errorList(err: KeywayError | KeywayErrors): unknown[] {
  return err instanceof KeywayErrors ? err.errors.map((e) => e.toJSON()) : [err.toJSON()];
}

