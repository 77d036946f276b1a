/**
 * keyway as a child process for the e2e tier, started the way a user starts it
 * (`keyway serve --config FILE --http-port N --xds-port N`, the compiled CLI that scripts/test.sh builds). Ports are
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
import { eventually } from '../../test/support/eventually.js';

const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

export interface StartKeywayOptions {
  /** Topology file (YAML). */
  readonly configPath: string;
  /**
   * REST port (default: a free port chosen now and kept across restarts). 0 lets keyway pick one,
   * read back from its `listening` log line (a restart may then move it).
   */
  readonly httpPort?: number;
  /** xDS port, as `httpPort`. Envoy's bootstrap names it, so keep it fixed when keyway restarts. */
  readonly xdsPort?: number;
  readonly logLevel?: 'trace' | 'debug' | 'info' | 'warn' | 'error';
  /** More `serve` flags, after the ones above (a flag given again wins, e.g. `--host 0.0.0.0`). */
  readonly args?: readonly string[];
  /** Extra environment for the child. */
  readonly env?: Readonly<Record<string, string>>;
  /** Bound for start-up (default 20 s). */
  readonly readyTimeoutMs?: number;
}

export interface KeywayProcess {
  /** `http://127.0.0.1:<httpPort>` (the bound port). */
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
 * Spawns `node bin/keyway.js serve ...` (the compiled CLI, built by scripts/test.sh) in the repository root and waits until
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
  const askedHttp = httpPort;
  const askedXds = xdsPort;
  const dir = mkdtempSync(path.join(tmpdir(), 'keyway-e2e-'));
  const logPath = path.join(dir, 'keyway.log');
  let child: ChildProcess | undefined;

  const args = [
    // KEYWAY_SERVER_EXEC_ARGS: Node flags for keyway (e.g. `--cpu-prof --cpu-prof-dir=DIR` to profile it in a benchmark).
    ...(process.env.KEYWAY_SERVER_EXEC_ARGS?.split(' ').filter(Boolean) ?? []),
    path.join(REPO_ROOT, 'bin', 'keyway.js'),
    'serve',
    '--config', opts.configPath,
    '--http-port', String(askedHttp),
    '--xds-port', String(askedXds),
    '--host', '127.0.0.1',
    '--log-level', opts.logLevel ?? 'info',
    // The endpoint picker's default port would collide between tests; a test that wants it passes --ext-proc-port.
    '--ext-proc-port', 'off',
    ...(opts.args ?? []),
  ];

  const logTail = (lines = 40): string => {
    try {
      return readFileSync(logPath, 'utf8').split('\n').slice(-lines - 1).join('\n');
    } catch {
      return '(no log)';
    }
  };

  const readLogs = (): Array<Record<string, unknown>> => {
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
  };

  const launch = async (): Promise<void> => {
    const linesBefore = readLogs().length;
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
    // A start-up bound, not a convergence check: keyway starts alongside other test files.
    const timeoutMs = opts.readyTimeoutMs ?? 60_000;
    try {
      if (askedHttp === 0 || askedXds === 0) {
        // keyway picks the ports: its `listening` log line names them.
        const line = await eventually("keyway's `listening` log line", () => {
          if (!isRunning(c)) throw new Error(`keyway exited (code ${c.exitCode}, signal ${c.signalCode})`);
          return readLogs().slice(linesBefore).find((l) => l.msg === 'listening');
        }, { accept: (l) => l !== undefined, timeoutMs, intervalMs: 100 });
        const bound = (field: string): number => {
          const v = line?.[field];
          if (typeof v !== 'number') throw new Error(`keyway's listening log line has no ${field}: ${JSON.stringify(line)}`);
          return v;
        };
        if (askedHttp === 0) httpPort = bound('httpPort');
        if (askedXds === 0) xdsPort = bound('xdsPort');
      }
      await eventually(`keyway /healthz on port ${httpPort}`, async () => {
        if (!isRunning(c)) throw new Error(`keyway exited (code ${c.exitCode}, signal ${c.signalCode})`);
        return (await httpRequest(`http://127.0.0.1:${httpPort}/healthz`, { timeoutMs: 2_000 })).status;
      }, { accept: (status) => status === 200 || !isRunning(c), timeoutMs, intervalMs: 150 });
      if (!isRunning(c)) throw new Error(`keyway exited (code ${c.exitCode}, signal ${c.signalCode})`);
    } catch (err) {
      await terminate(c, 2_000);
      throw new Error(`${(err as Error).message}\n--- keyway log (${logPath}) ---\n${logTail()}`, { cause: err });
    }
  };

  try {
    await launch();
  } catch (err) {
    if (process.env.KEYWAY_E2E_KEEP !== '1') rmSync(dir, { recursive: true, force: true });
    throw err;
  }

  const stop = async (graceMs = 5_000): Promise<void> => {
    if (child) await terminate(child, graceMs);
  };

  return {
    get httpUrl() {
      return `http://127.0.0.1:${httpPort}`;
    },
    get httpPort() {
      return httpPort as number;
    },
    get xdsPort() {
      return xdsPort as number;
    },
    pid: () => child?.pid ?? -1,
    logPath,
    logs: readLogs,
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
