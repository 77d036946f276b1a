/**
 * A stand-in cache node for the proxyless gRPC tests: a gRPC server answering /keyway.test.Cache/Who
 * with its own name (raw bytes), on 127.0.0.1.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { restartable, startWhoServer, type RestartableWho } from '../../support/grpc-who.js';

export { WHO_METHOD } from '../../support/grpc-who.js';

export interface GrpcBackend {
  readonly name: string;
  readonly port: number;
  /** Stops accepting calls and lets the ones in flight finish (a node leaving on purpose). */
  drain(): Promise<void>;
}

export async function startGrpcBackend(name: string): Promise<GrpcBackend> {
  const { server, port } = await startWhoServer(name);
  let drained: Promise<void> | undefined;
  return {
    name,
    port,
    drain() {
      drained ??= new Promise<void>((resolve) => server.tryShutdown(() => resolve()));
      return drained;
    },
  };
}

/**
 * A {@link RestartableWho} in a child process (who-process.ts) whose `stop()` kills it (SIGKILL): a
 * node that crashes, its connections dropped without a GOAWAY (calls in flight end UNAVAILABLE).
 */
export function killableWho(name: string): Promise<RestartableWho> {
  const script = fileURLToPath(new URL('./who-process.ts', import.meta.url));
  return restartable(name, async (port, delayMs) => {
    const child = spawn(process.execPath, ['--import', 'tsx', script, name, String(port), String(delayMs())], { stdio: ['pipe', 'pipe', 'inherit'] });
    const [line] = (await Promise.race([
      once(createInterface({ input: child.stdout }), 'line'),
      once(child, 'exit').then(([code]) => Promise.reject(new Error(`who-process ${name} exited (${code}) before it listened`))),
    ])) as [string];
    child.stdin.on('error', () => {}); // a delay sent as it dies: the next run gets it on its command line
    return {
      port: (JSON.parse(line) as { port: number }).port,
      async stop() {
        if (child.exitCode !== null || child.signalCode !== null) return;
        const exited = once(child, 'exit');
        child.kill('SIGKILL');
        await exited;
      },
      setDelay: (ms) => void child.stdin.write(`${JSON.stringify({ delayMs: ms })}\n`),
    };
  });
}
