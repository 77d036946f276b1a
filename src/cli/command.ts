/**
 * The `keyway` command as a function (public contract: `keyway --help`, README "Running keyway").
 * Exit status: 0 success or graceful shutdown, 1 runtime failure, 2 bad usage or invalid topology file.
 */
import { type Logger, pino } from 'pino';
import { loadConfigFile } from '../config/index.js';
import { KeywayError, KeywayErrors, type KeywayErrorCode } from '../errors.js';
import { startServer } from '../serve/index.js';
import { startTracing, type Tracing } from '../telemetry/index.js';
import { type Command, parseCommand, USAGE, UsageError } from './args.js';
import { isClientCommand, runClientCommand } from './commands/index.js';
import { kubernetesSourceFactory, serveStages } from './serve-wiring.js';

/** Runs one command; resolves with the exit status once the command is done (serve: after shutdown). */
export async function main(argv: readonly string[], env: NodeJS.ProcessEnv): Promise<number> {
  // Client commands (status, shardmap, lookup, diff) parse their own options.
  if (argv[0] !== undefined && isClientCommand(argv[0])) return runClientCommand(argv[0], argv.slice(1), env);
  let cmd: Command;
  try {
    cmd = parseCommand(argv, env);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    process.stderr.write(`keyway: ${err.message}\n\n${USAGE}\n`);
    return 2;
  }
  switch (cmd.command) {
    case 'help':
      process.stdout.write(`${USAGE}\n`);
      return 0;
    case 'check':
      return check(cmd.config);
    case 'serve':
      return serve(cmd);
  }
}

async function check(file: string): Promise<number> {
  try {
    const cfg = await loadConfigFile(file);
    const t = cfg.topology;
    process.stdout.write(
      `${file}: ok: ${t.policy.shardCount} shards, ${t.policy.replicas} replicas, spread ${t.policy.spread}, ` +
        (cfg.kubernetes ? 'endpoints from Kubernetes\n' : `${t.endpoints.length} endpoints\n`),
    );
    return 0;
  } catch (err) {
    if (isConfigError(err)) {
      process.stderr.write(`${err.message}\n`);
      return 2;
    }
    throw err;
  }
}

/** Bound on flushing the last spans at exit, so an unreachable collector cannot hold the shutdown. */
const TRACE_FLUSH_TIMEOUT_MS = 5000;

/**
 * `keyway serve` with trace export: on only when the standard OpenTelemetry variables ask for it
 * (docs/observability.md "Traces"); the last spans are flushed before the process exits.
 */
async function serve(cmd: Extract<Command, { command: 'serve' }>): Promise<number> {
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

async function serveUntilStopped(cmd: Extract<Command, { command: 'serve' }>, log: Logger): Promise<number> {
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

/** The codes that mean "the topology file is bad" (exit status 2 at start). */
const CONFIG_ERROR_CODES: readonly KeywayErrorCode[] = ['CONFIG_READ', 'CONFIG_PARSE', 'CONFIG_INVALID', 'DUPLICATE_ENDPOINT'];

function isConfigError(err: unknown): err is KeywayError | KeywayErrors {
  return (
    (err instanceof KeywayErrors || err instanceof KeywayError) &&
    CONFIG_ERROR_CODES.includes(err.code)
  );
}

function errorList(err: KeywayError | KeywayErrors): unknown[] {
  return err instanceof KeywayErrors ? err.errors.map((e) => e.toJSON()) : [err.toJSON()];
}

