/**
 * Child processes started by the e2e harness (Envoy, keyway). Each is stopped with SIGTERM and,
 * after a bound, SIGKILL; any still alive when the test process exits is killed by its pid, so a
 * failed test never leaves a proxy or control plane running.
 */
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';

const live = new Set<ChildProcess>();
let exitHookInstalled = false;

/** Remembers `child` until it exits; on test-process exit it is killed by pid. */
export function track(child: ChildProcess): void {
  live.add(child);
  child.once('exit', () => live.delete(child));
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.once('exit', () => {
      for (const c of live) {
        if (c.pid !== undefined && c.exitCode === null && c.signalCode === null) {
          try {
            process.kill(c.pid, 'SIGKILL');
          } catch {
            // already gone
          }
        }
      }
    });
  }
}

/** True while the child has neither exited nor been killed by a signal. */
export function isRunning(child: ChildProcess): boolean {
  return child.exitCode === null && child.signalCode === null;
}

/**
 * Sends SIGTERM, waits up to `graceMs` for the exit, then SIGKILL (and waits for that too).
 * Resolves with how it ended. Idempotent.
 */
export async function terminate(
  child: ChildProcess,
  graceMs = 5_000,
): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  if (!isRunning(child)) return { code: child.exitCode, signal: child.signalCode };
  const exited = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
  child.kill('SIGTERM');
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), graceMs);
  });
  const first = await Promise.race([exited, timedOut]);
  clearTimeout(timer);
  if (first !== 'timeout') return { code: first[0], signal: first[1] };
  child.kill('SIGKILL');
  const [code, signal] = await exited;
  return { code, signal };
}
