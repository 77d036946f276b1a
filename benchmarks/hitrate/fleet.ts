/**
 * The example cache nodes of the hit-rate benchmark, each a child process started the way a user
 * starts it (`node --import tsx examples/cache-node/main.ts ...`). A restart is a new process on
 * the same port: empty L1 and L2, as a pod that comes back.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { once } from 'node:events';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { isRunning, terminate, track } from '../../e2e/support/processes.js';

const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

export interface NodeSpec {
  readonly id: string;
  readonly port: number;
}

export interface NodeProcess {
  readonly spec: NodeSpec;
  readonly url: string;
  running(): boolean;
  /** SIGTERM (SIGKILL after 5 s). */
  stop(): Promise<void>;
  /** SIGKILL at once: a node that fails. */
  kill(): Promise<void>;
}

/**
 * Starts one node and resolves when it printed its `listening` line. `args` are the flags after
 * `--id` and `--port` (ownership source, capacities). Its output goes to `<logDir>/<id>.log`.
 * @throws Error when the node exits or does not listen within 30 s
 */
export async function startNode(spec: NodeSpec, args: readonly string[], logDir: string): Promise<NodeProcess> {
  const child: ChildProcess = spawn(
    process.execPath,
    ['--import', 'tsx', 'examples/cache-node/main.ts', '--id', spec.id, '--port', String(spec.port), '--host', '127.0.0.1', ...args],
    { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  track(child);
  const log = createWriteStream(path.join(logDir, `${spec.id}.log`), { flags: 'a' });
  let seen = '';
  const listening = new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`cache node ${spec.id} did not listen within 30 s; see ${logDir}/${spec.id}.log`)), 30_000);
    child.stdout!.on('data', (chunk: Buffer) => {
      log.write(chunk);
      if (seen !== 'done') {
        seen += chunk.toString('utf8');
        if (seen.includes('"msg":"listening"')) {
          seen = 'done';
          clearTimeout(timer);
          resolve();
        }
      }
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`cache node ${spec.id} exited (code ${code}, signal ${signal}); see ${logDir}/${spec.id}.log`));
    });
  });
  child.stderr!.on('data', (chunk: Buffer) => log.write(chunk));
  child.once('exit', () => log.end());
  try {
    await listening;
  } catch (err) {
    await terminate(child, 1_000);
    throw err;
  }
  return {
    spec,
    url: `http://127.0.0.1:${spec.port}`,
    running: () => isRunning(child),
    stop: async () => {
      await terminate(child, 5_000);
    },
    kill: async () => {
      if (!isRunning(child)) return;
      const exited = once(child, 'exit');
      child.kill('SIGKILL');
      await exited;
    },
  };
}
