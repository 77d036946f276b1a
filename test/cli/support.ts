/** Running the real `keyway` command from tests: the compiled CLI, from the repository root. */
import { spawn } from 'node:child_process';
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
