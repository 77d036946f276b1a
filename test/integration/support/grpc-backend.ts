/**
 * A stand-in cache node for the proxyless gRPC tests: a gRPC server answering /keyway.test.Cache/Who
 * with its own name (raw bytes), on 127.0.0.1.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { startWhoServer, type RestartableWho } from '../../support/grpc-who.js';

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
 * node that crashes, its connections dropped without a GOAWAY. `start()` starts it again on the
 * same port with the same delay.
 */
export async function killableWho(name: string): Promise<RestartableWho & { close(): Promise<void> }> {
  let child: ChildProcess | undefined;
  let port = 0;
  let delay = 0;
  const start = async (): Promise<void> => {
    if (child) return;
    const script = fileURLToPath(new URL('./who-process.ts', import.meta.url));
    const c = spawn(process.execPath, ['--import', 'tsx', script, name, String(port), String(delay)], { stdio: ['pipe', 'pipe', 'inherit'] });
    child = c;
    const [line] = (await Promise.race([
      once(createInterface({ input: c.stdout! }), 'line'),
      once(c, 'exit').then(([code]) => Promise.reject(new Error(`who-process ${name} exited (${code}) before it listened`))),
    ])) as [string];
    port = (JSON.parse(line) as { port: number }).port;
  };
  const stop = async (): Promise<void> => {
    const c = child;
    child = undefined;
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    const exited = once(c, 'exit');
    c.kill('SIGKILL');
    await exited;
  };
  await start();
  return {
    name,
    get port() {
      return port;
    },
    start,
    stop,
    close: stop,
    setDelay(ms) {
      delay = ms;
      child?.stdin!.write(`${JSON.stringify({ delayMs: ms })}\n`);
    },
  };
}
