/**
 * Real gRPC clients calling without pause through keyway, for the make-before-break tests (docs/xds.md
 * "Make-before-break for stock gRPC clients"): @grpc/grpc-js-xds, grpc-go and python grpcio, each a
 * process of its own speaking one protocol on stdin/stdout ("reset", "report"; see grpc-js-caller.ts).
 * Where a language is missing the caller is undefined with the reason; tests skip it, or fail when
 * KEYWAY_REQUIRE_E2E=1 (CI installs Go and `scripts/install-grpcio.sh`).
 */
import assert from 'node:assert/strict';
import { spawn, execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import type { TestContext } from 'node:test';
import { eventually } from '../../support/eventually.js';

/** Counters of one caller since its last reset. */
export interface CallReport {
  readonly ok: number;
  readonly failed: number;
  /** Failures by message. */
  readonly errors: Record<string, number>;
  /** Successful calls by the answering server's name. */
  readonly byNode: Record<string, number>;
}

export interface Caller {
  readonly language: string;
  reset(): Promise<void>;
  report(): Promise<CallReport>;
  close(): void;
}

const here = (p: string): string => fileURLToPath(new URL(p, import.meta.url));
/** The venv scripts/install-grpcio.sh makes (KEYWAY_GRPCIO_PYTHON overrides). */
export const GRPCIO_PYTHON = process.env.KEYWAY_GRPCIO_PYTHON ?? here('../../../.tools/grpcio-venv/bin/python');

/** Starts one caller process: `argv` runs it, GRPC_XDS_BOOTSTRAP_CONFIG is `bootstrap`. */
function startCaller(language: string, argv: readonly string[], bootstrap: object): Caller {
  const child = spawn(argv[0]!, argv.slice(1), {
    env: { ...process.env, GRPC_XDS_BOOTSTRAP_CONFIG: JSON.stringify(bootstrap) },
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const waiting: ((line: string) => void)[] = [];
  createInterface({ input: child.stdout! }).on('line', (line) => waiting.shift()?.(line));
  let exited: string | undefined;
  child.on('exit', (code, signal) => {
    exited = `${language} caller exited (${code ?? signal})`;
  });
  const ask = (command: string): Promise<string> =>
    new Promise((resolve, reject) => {
      if (exited) return reject(new Error(exited));
      waiting.push(resolve);
      child.stdin!.write(`${command}\n`);
    });
  return {
    language,
    reset: async () => void (await ask('reset')),
    report: async () => JSON.parse(await ask('report')) as CallReport,
    close: () => void child.kill('SIGKILL'),
  };
}

/** The grpc-js-xds caller (always available: it is a dev dependency). */
export function grpcJsCaller(target: string, shards: number, workers: number, bootstrap: object): Caller {
  return startCaller('grpc-js', [process.execPath, '--import', 'tsx', here('./grpc-js-caller.ts'), target, String(shards), String(workers)], bootstrap);
}

/** Builds the grpc-go caller (google.golang.org/grpc pinned in its go.mod) into `dir`; undefined with a reason without Go. */
export async function buildGoCaller(dir: string): Promise<{ binary: string } | { missing: string }> {
  const binary = `${dir}/grpc-go-caller`;
  try {
    await promisify(execFile)('go', ['build', '-o', binary, '.'], {
      cwd: here('./grpc-go-caller'),
      env: { ...process.env, GOTOOLCHAIN: 'local', GOFLAGS: '-mod=readonly' },
      timeout: 600_000,
    });
    return { binary };
  } catch (err) {
    return { missing: `go build of the grpc-go caller failed: ${(err as Error).message}` };
  }
}

export function goCaller(binary: string, target: string, shards: number, workers: number, bootstrap: object): Caller {
  return startCaller('grpc-go', [binary, target, String(shards), String(workers)], bootstrap);
}

/** The python grpcio caller, or why it cannot run. */
export function pythonCaller(target: string, shards: number, workers: number, bootstrap: object): Caller | { missing: string } {
  if (!existsSync(GRPCIO_PYTHON)) return { missing: `no python with grpcio at ${GRPCIO_PYTHON} (run scripts/install-grpcio.sh)` };
  return startCaller('python-grpcio', [GRPCIO_PYTHON, here('./grpcio_caller.py'), target, String(shards), String(workers)], bootstrap);
}

/** What {@link startWarmCallers} starts: one client of each kind against `target`. */
export interface WarmCallersOptions {
  readonly target: string;
  readonly shards: number;
  readonly workers: number;
  /** The bootstrap of the client named `id` (each kind gets `<prefix>-grpc-js`, `-grpc-go`, `-python`). */
  readonly bootstrap: (id: string) => object;
  readonly prefix: string;
  /** A missing Go toolchain or grpcio fails the test (KEYWAY_REQUIRE_E2E=1) instead of skipping that kind. */
  readonly require: boolean;
  readonly note: (message: string) => void;
}

/**
 * A grpc-js, a grpc-go and a python grpcio client calling through keyway, each warmed until a window
 * of its calls has no failure, their counts then reset; closed when the test ends.
 */
export async function startWarmCallers(t: Pick<TestContext, 'after'>, opts: WarmCallersOptions): Promise<Caller[]> {
  const { target, shards, workers, bootstrap, prefix } = opts;
  const callers: Caller[] = [grpcJsCaller(target, shards, workers, bootstrap(`${prefix}-grpc-js`))];
  const dir = await mkdtemp(join(tmpdir(), `keyway-${prefix}-`));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const go = await buildGoCaller(dir);
  const python = pythonCaller(target, shards, workers, bootstrap(`${prefix}-python`));
  for (const missing of ['missing' in go ? go.missing : undefined, 'missing' in python ? python.missing : undefined]) {
    if (missing === undefined) continue;
    if (opts.require) assert.fail(missing);
    opts.note(`skipped: ${missing}`);
  }
  if ('binary' in go) callers.push(goCaller(go.binary, target, shards, workers, bootstrap(`${prefix}-grpc-go`)));
  if (!('missing' in python)) callers.push(python);
  t.after(() => callers.forEach((c) => c.close()));
  for (const c of callers) {
    await eventually(`${c.language}: a window of calls without a failure`, async () => {
      await c.reset();
      await sleep(300);
      return c.report();
    }, { accept: (r) => r.ok > 0 && r.failed === 0, timeoutMs: 60_000, intervalMs: 0 });
  }
  await Promise.all(callers.map((c) => c.reset()));
  return callers;
}
