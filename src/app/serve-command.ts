/**
 * `keyway serve` as the CLI runs it (README "Running keyway"): trace export when the standard
 * OpenTelemetry variables ask for it, the runner with every stage and the Kubernetes source,
 * SIGTERM/SIGINT for a graceful stop and SIGHUP to re-read the topology file.
 * Exit status: 0 graceful shutdown, 1 runtime failure, 2 invalid topology file.
 */
import { type Logger, pino } from 'pino';
import { isConfigError, type KeywayError, KeywayErrors } from '../core/errors.js';
import { startTracing, type Tracing } from '../telemetry/index.js';
import { startServer } from './runner.js';
import { kubernetesSourceFactory, serveStages } from './wiring.js';

/** What `keyway serve` was asked on its command line. */
export interface ServeCommandOptions {
  readonly config: string;
  readonly httpPort: number;
  readonly xdsPort: number;
  readonly host: string;
  readonly logLevel: string;
}

/** Bound on flushing the last spans at exit, so an unreachable collector cannot hold the shutdown. */
const TRACE_FLUSH_TIMEOUT_MS = 5000;

/**
 * `keyway serve` with trace export: on only when the standard OpenTelemetry variables ask for it
 * (docs/observability.md "Traces"); the last spans are flushed before the process exits.
 */
export async function serveCommand(cmd: ServeCommandOptions): Promise<number> {
  const log = pino({ name: 'keyway', level: cmd.logLevel });
  const tracing = startTracing();
  const { enabled, reason, endpoint, serviceName, warnings } = tracing.config;
  log.info({ tracing: { enabled, reason, serviceName, ...(endpoint ? { endpoint } : {}) } }, enabled ? `tracing on: ${endpoint}` : `tracing off: ${reason}`);
  for (const w of warnings) log.warn(w);
  try {
    return await serveUntilStopped(cmd, log);
  } finally {
    await stopTracing(tracing, log);
  }
}

async function stopTracing(tracing: Tracing, log: Logger): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), TRACE_FLUSH_TIMEOUT_MS)));
  try {
    const r = await Promise.race([tracing.shutdown().then(() => 'done' as const), timeout]);
    if (r === 'timeout') log.warn(`trace export did not finish within ${TRACE_FLUSH_TIMEOUT_MS} ms; some spans may be lost`);
  } catch (err) {
    log.warn({ err }, 'flushing traces failed');
  } finally {
    clearTimeout(timer);
  }
}

async function serveUntilStopped(cmd: ServeCommandOptions, log: Logger): Promise<number> {
  let server;
  try {
    server = await startServer({
      configFile: cmd.config,
      httpPort: cmd.httpPort,
      xdsPort: cmd.xdsPort,
      host: cmd.host,
      logger: log,
      kubernetesSource: kubernetesSourceFactory,
      stages: serveStages(),
    });
  } catch (err) {
    if (isConfigError(err)) {
      // Printed as plain lines too, so a person at a terminal reads `file:line:column: field: message`.
      log.fatal({ errors: errorList(err) }, 'invalid topology file');
      process.stderr.write(`keyway: invalid topology file:\n${err.message}\n`);
      return 2;
    }
    log.fatal({ err }, 'keyway failed to start');
    return 1;
  }
  const running = server;
  return new Promise<number>((resolve) => {
    let stopping = false;
    const stop = (signal: NodeJS.Signals): void => {
      if (stopping) {
        log.warn({ signal }, 'second signal: exiting now');
        resolve(1);
        return;
      }
      stopping = true;
      log.info({ signal }, 'shutting down');
      running.close().then(
        () => {
          log.info('stopped');
          resolve(0);
        },
        (err: unknown) => {
          log.error({ err }, 'shutdown failed');
          resolve(1);
        },
      );
    };
    process.on('SIGTERM', stop);
    process.on('SIGINT', stop);
    process.on('SIGHUP', () => {
      log.info('SIGHUP: re-reading the topology file');
      void running.reload();
    });
  });
}

function errorList(err: KeywayError | KeywayErrors): unknown[] {
  return err instanceof KeywayErrors ? err.errors.map((e) => e.toJSON()) : [err.toJSON()];
}

