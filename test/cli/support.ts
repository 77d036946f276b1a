/** Running the real `keyway` command from tests: the compiled CLI, from the repository root. */
import { type ChildProcessByStdio, spawn } from 'node:child_process';
import type { Readable } from 'node:stream';
import { once } from 'node:events';

/**
 * Node arguments that run the `keyway` command as users run it: `bin/keyway.js` over the compiled
 * dist/, which `scripts/test.sh` builds before any test runs (compiled, it starts in about half the
 * CPU time of the TypeScript entry point under tsx, and the suite starts it some forty times).
 */
export const CLI = ['bin/keyway.js'];

export interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `keyway ARGS` to completion with `env` added to this process's environment. */
export async function runCli(args: readonly string[], env: NodeJS.ProcessEnv = {}): Promise<CliRun> {
  const child = spawn(process.execPath, [...CLI, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const [code] = (await once(child, 'exit')) as [number | null];
  return { code, stdout, stderr };
}

/** A `keyway serve` child started by startServe, listening. */
export interface RunningServe {
  readonly child: ChildProcessByStdio<null, Readable, Readable>;
  /** Resolves with [exit code, signal]. */
  readonly exited: Promise<[number | null, NodeJS.Signals | null]>;
  /** Everything the child wrote so far. */
  readonly out: { stdout: string; stderr: string };
  /** The `listening` log record: the ports and interfaces bound. */
  readonly listening: { readonly httpPort: number; readonly xdsPort: number; readonly host: string; readonly adminHost: string };
}

/**
 * Starts `keyway serve --config FILE ARGS` (its output piped) with `env` added, waits (30 s at
 * most) for its `listening` line, and SIGKILLs it after the test if it is still running.
 */
export async function startServe(file: string, args: readonly string[], t: { after(fn: () => unknown): void }, env: NodeJS.ProcessEnv = {}): Promise<RunningServe> {
  const child = spawn(process.execPath, [...CLI, 'serve', '--config', file, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  t.after(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  const exited = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
  const out = { stdout: '', stderr: '' };
  child.stdout.on('data', (d: Buffer) => (out.stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out.stderr += d.toString()));
  const deadline = Date.now() + 30_000;
  while (!out.stdout.includes('"msg":"listening"')) {
    if (Date.now() > deadline || child.exitCode !== null) throw new Error(`keyway did not listen; stderr: ${out.stderr}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  const listening = JSON.parse(out.stdout.split('\n').find((l) => l.includes('"msg":"listening"'))!) as RunningServe['listening'];
  return { child, exited, out, listening };
}

/** A topology of one node, for tests of `keyway serve` as a process. */
export const ONE_NODE_TOPOLOGY = 'shards: 8\nreplicas: 1\nendpoints: [{id: a, address: 127.0.0.1, port: 7001}]\n';

/** `keyway serve` flags for any free ports on loopback, the endpoint picker off. */
export const SERVE_ON_LOOPBACK = ['--http-port', '0', '--xds-port', '0', '--ext-proc-port', 'off', '--host', '127.0.0.1', '--admin-host', '127.0.0.1'] as const;
