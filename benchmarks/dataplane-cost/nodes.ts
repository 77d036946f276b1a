/**
 * The example cache nodes of the data-plane cost benchmark, as child processes started the way a
 * user starts them, with their pids for CPU accounting. Output goes to `<logDir>/<id>.log`.
 */
import { spawn } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { terminate, track } from '../../e2e/support/processes.js';

const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

export interface CacheNodeProcess {
  readonly id: string;
  readonly port: number;
  readonly pid: number;
  stop(): Promise<void>;
}

/**
 * Starts one node; resolves once it printed its `listening` line.
 * @throws Error when it exits or does not listen within 30 s
 */
export async function startCacheNode(id: string, port: number, args: readonly string[], logDir: string): Promise<CacheNodeProcess> {
  // KEYWAY_NODE_EXEC_ARGS: Node flags for the nodes (e.g. `--cpu-prof --cpu-prof-dir=DIR` to profile them).
  const execArgs = process.env.KEYWAY_NODE_EXEC_ARGS?.split(' ').filter(Boolean) ?? [];
  const child = spawn(process.execPath, [...execArgs, '--import', 'tsx', 'examples/cache-node/main.ts', '--id', id, '--port', String(port), '--host', '127.0.0.1', ...args], {
    cwd: REPO_ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  track(child);
  const log = createWriteStream(path.join(logDir, `${id}.log`), { flags: 'a' });
  child.stderr!.pipe(log);
  await new Promise<void>((resolve, reject) => {
    let seen = '';
    const timer = setTimeout(() => reject(new Error(`cache node ${id} did not listen within 90 s; see ${logDir}/${id}.log`)), 90_000);
    const onData = (chunk: Buffer): void => {
      log.write(chunk);
      seen += chunk.toString('utf8');
      if (seen.includes('"msg":"listening"')) {
        clearTimeout(timer);
        child.stdout!.off('data', onData);
        child.stdout!.pipe(log);
        resolve();
      }
    };
    child.stdout!.on('data', onData);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`cache node ${id} exited (code ${code}); see ${logDir}/${id}.log`));
    });
  });
  return { id, port, pid: child.pid!, stop: () => terminate(child, 5_000).then(() => {}) };
}
