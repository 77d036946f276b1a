/**
 * `keyway serve` as the CLI runs it (README "Running keyway"): trace export when the standard
 * OpenTelemetry variables ask for it, the runner with every stage and the Kubernetes source,
 * SIGTERM/SIGINT for a graceful stop and SIGHUP to re-read the topology file.
 * Exit status: 0 graceful shutdown, 1 runtime failure, 2 invalid topology file.
 */
import { readFile } from 'node:fs/promises';
import { type Logger, pino } from 'pino';
import { isConfigError, type KeywayError, KeywayErrors } from '../core/errors.js';
import { startTracing, type Tracing } from '../telemetry/index.js';
import { startServer } from './runner.js';
import type { XdsTlsSettings } from '../xds/server/index.js';
import { kubernetesSourceFactory, serveStages } from './wiring.js';

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
    const adminToken = cmd.adminTokenFile !== undefined ? await readAdminToken(cmd.adminTokenFile) : undefined;
    server = await startServer({
      configFile: cmd.config,
      httpPort: cmd.httpPort,
      xdsPort: cmd.xdsPort,
      host: cmd.host,
      ...(cmd.adminHost !== undefined ? { adminHost: cmd.adminHost } : {}),
      ...(adminToken !== undefined ? { adminToken } : {}),
      logger: log,
      kubernetesSource: kubernetesSourceFactory,
      stages: serveStages({ ...(cmd.xdsTls ? { xdsTls: cmd.xdsTls } : {}), ...(cmd.extProcPort !== undefined ? { extProcPort: cmd.extProcPort } : {}),
      }),
    });
  } catch (err) {
    if (isConfigError(err)) {
      // Printed as plain lines too, so a person at a terminal reads `file:line:column: field: message`.
      log.fatal({ errors: errorList(err) }, 'invalid topology file');
      process.stderr.write(`keyway: invalid topology file:\n${err.message}\n`);
      return 2;
    }
    log.fatal({ err }, 'keyway failed to start');
    process.stderr.write(`keyway: failed to start: ${(err as Error).message}\n`);
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

/**
 * The admin token: the file's content without surrounding white space (a Secret written with a
 * trailing newline works). Read once at start; a new token takes a restart (a rolling one in Kubernetes).
 * @throws Error when the file cannot be read or holds no token
 */
async function readAdminToken(file: string): Promise<string> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new Error(`--admin-token-file ${file}: cannot read: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, { cause: err });
  }
  const token = text.trim();
  if (token === '' || /\s/.test(token)) throw new Error(`--admin-token-file ${file}: must hold one token (no white space inside), got ${token === '' ? 'an empty file' : 'several words'}`);
  return token;
}

function errorList(err: KeywayError | KeywayErrors): unknown[] {
  return err instanceof KeywayErrors ? err.errors.map((e) => e.toJSON()) : [err.toJSON()];
}

