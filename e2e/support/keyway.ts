/**
 * keyway as a child process for the e2e tier, started the way a user starts it
 * (`keyway serve --config FILE --http-port N --xds-port N`, from source through tsx). Ports are
 * chosen up front, so `restart()` brings keyway back on the same xDS port that Envoy's bootstrap names.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { httpRequest } from './http.js';
import { freePorts } from './ports.js';
import { isRunning, terminate, track } from './processes.js';
import { waitUntil } from './wait.js';

const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

export interface StartKeywayOptions {
  /** Topology file (YAML). */
  readonly configPath: string;
  /** REST port (default: a free port chosen now and kept across restarts). */
  readonly httpPort?: number;
  /** xDS port (default: a free port chosen now and kept across restarts). */
  readonly xdsPort?: number;
  readonly logLevel?: 'trace' | 'debug' | 'info' | 'warn' | 'error';
  /** Extra environment for the child. */
  readonly env?: Readonly<Record<string, string>>;
  /** Bound for start-up (default 20 s: tsx compiles the sources on first run). */
  readonly readyTimeoutMs?: number;
}

export interface KeywayProcess {
  /** `http://127.0.0.1:<httpPort>`. */
  readonly httpUrl: string;
  readonly httpPort: number;
  readonly xdsPort: number;
  /** Current child pid (changes on restart). */
  pid(): number;
  /** keyway's stdout+stderr (JSON log lines), appended across restarts. */
  readonly logPath: string;
  /** Parsed JSON log lines so far (lines that are not JSON are skipped). */
  logs(): Array<Record<string, unknown>>;
  logTail(lines?: number): string;
  running(): boolean;
  /** SIGTERM, SIGKILL after `graceMs` (default 5 s). Idempotent. */
  stop(graceMs?: number): Promise<void>;
  /** Stops and starts again with the same file and ports; resolves when /healthz answers. */
  restart(): Promise<void>;
}

/**
 * Spawns `node --import tsx src/cli/main.ts serve ...` in the repository root and waits until
 * `GET /healthz` answers 200.
 * @throws Error when keyway exits or does not answer in time (with the log tail)
 */
export async function startKeyway(opts: StartKeywayOptions): Promise<KeywayProcess> {
  let httpPort = opts.httpPort;
  let xdsPort = opts.xdsPort;
  if (httpPort === undefined || xdsPort === undefined) {
    const [a, b] = await freePorts(2);
    httpPort ??= a as number;
    xdsPort ??= b as number;
  }
  const dir = mkdtempSync(path.join(tmpdir(), 'keyway-e2e-'));
  const logPath = path.join(dir, 'keyway.log');
  const httpUrl = `http://127.0.0.1:${httpPort}`;
  let child: ChildProcess | undefined;

  const args = [
    '--import', 'tsx',
    path.join(REPO_ROOT, 'src', 'cli', 'main.ts'),
    'serve',
    '--config', opts.configPath,
    '--http-port', String(httpPort),
    '--xds-port', String(xdsPort),
    '--host', '127.0.0.1',
    '--log-level', opts.logLevel ?? 'info',
  ];

  const logTail = (lines = 40): string => {
    try {
      return readFileSync(logPath, 'utf8').split('\n').slice(-lines - 1).join('\n');
    } catch {
      return '(no log)';
    }
  };

  const launch = async (): Promise<void> => {
    const fd = openSync(logPath, 'a');
    try {
      child = spawn(process.execPath, args, {
        cwd: REPO_ROOT,
        env: { ...process.env, ...opts.env },
        stdio: ['ignore', fd, fd],
      });
    } finally {
      closeSync(fd);
    }
    const c = child;
    track(c);
    try {
      await waitUntil(
        async () => {
          if (!isRunning(c)) throw new Error(`keyway exited (code ${c.exitCode}, signal ${c.signalCode})`);
          return (await httpRequest(`${httpUrl}/healthz`, { timeoutMs: 2_000 })).status;
        },
        (status) => status === 200 || !isRunning(c),
        { timeoutMs: opts.readyTimeoutMs ?? 20_000, intervalMs: 150, what: `keyway /healthz on ${httpUrl}` },
      );
      if (!isRunning(c)) throw new Error(`keyway exited (code ${c.exitCode}, signal ${c.signalCode})`);
    } catch (err) {
      await terminate(c, 2_000);
      throw new Error(`${(err as Error).message}\n--- keyway log (${logPath}) ---\n${logTail()}`, { cause: err });
    }
  };

  await launch();

  const stop = async (graceMs = 5_000): Promise<void> => {
    if (child) await terminate(child, graceMs);
  };

  return {
    httpUrl,
    httpPort,
    xdsPort,
    pid: () => child?.pid ?? -1,
    logPath,
    logs() {
      const out: Array<Record<string, unknown>> = [];
      let text = '';
      try {
        text = readFileSync(logPath, 'utf8');
      } catch {
        return out;
      }
      for (const line of text.split('\n')) {
        if (!line.startsWith('{')) continue;
        try {
          out.push(JSON.parse(line) as Record<string, unknown>);
        } catch {
          // a line cut by a crash
        }
      }
      return out;
    },
    logTail,
    running: () => child !== undefined && isRunning(child),
    async stop(graceMs) {
      await stop(graceMs);
      if (process.env.KEYWAY_E2E_KEEP !== '1') rmSync(dir, { recursive: true, force: true });
    },
    async restart() {
      await stop();
      await launch();
    },
  };
}
