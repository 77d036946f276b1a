/**
 * The stand-in cache node of the proxyless gRPC tests: a gRPC server whose one method,
 * /keyway.test.Cache/Who, answers with the server's name (raw bytes), and the client side of it.
 * A call's answer says which node the pushed routes and endpoints steered it to.
 */
import { Metadata, Server, ServerCredentials, type Client, type ServiceError, type UntypedServiceImplementation } from '@grpc/grpc-js';
import { eventually } from './eventually.js';
import { freePort } from '../../e2e/support/ports.js';

export const WHO_METHOD = '/keyway.test.Cache/Who';
const raw = (b: Buffer): Buffer => b;

/** A started Who server on 127.0.0.1 (`port` 0 picks a free one); `delayMs()` is read per call (a slow node). */
export async function startWhoServer(name: string, port = 0, delayMs: () => number = () => 0): Promise<{ server: Server; port: number }> {
  const server = new Server();
  const impl: UntypedServiceImplementation = {
    Who: (_call: unknown, cb: (err: null, value: Buffer) => void) => {
      const ms = delayMs();
      if (ms > 0) setTimeout(() => cb(null, Buffer.from(name)), ms).unref(); // a call held long must not hold the test process
      else cb(null, Buffer.from(name));
    },
  };
  server.addService(
    { Who: { path: WHO_METHOD, requestStream: false, responseStream: false, requestSerialize: raw, requestDeserialize: raw, responseSerialize: raw, responseDeserialize: raw } },
    impl,
  );
  const bound = await new Promise<number>((resolve, reject) =>
    server.bindAsync(`127.0.0.1:${port}`, ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
  );
  return { server, port: bound };
}

/** A Who server that a test stops like a node that dies and starts again on the same port. */
export interface RestartableWho {
  readonly name: string;
  readonly port: number;
  /** Stops it without draining (forceShutdown in process, SIGKILL for a process): clients must notice. */
  stop(): Promise<void>;
  start(): Promise<void>;
  /** Answers each call `ms` later (0: at once), so calls are in flight when it stops. */
  setDelay(ms: number): void;
}

/** One run of a restartable Who server, from its start to its stop. */
export interface WhoRun {
  readonly port: number;
  stop(): Promise<void>;
  /** Tells the running server a new delay (an in-process server reads the delay per call instead). */
  setDelay?(ms: number): void;
}

/**
 * A {@link RestartableWho} over `launch`, which starts every run on one `port` answering
 * `delayMs()` late. The port is free and below the ephemeral range, so while the server is down no
 * port-0 listener beside the test can take it.
 */
export async function restartable(name: string, launch: (port: number, delayMs: () => number) => Promise<WhoRun>): Promise<RestartableWho> {
  let run: WhoRun | undefined;
  let port = await freePort();
  let delay = 0;
  const start = async (): Promise<void> => {
    if (run) return;
    run = await launch(port, () => delay);
    port = run.port;
  };
  await start();
  return {
    name,
    get port() {
      return port;
    },
    start,
    async stop() {
      const r = run;
      run = undefined;
      await r?.stop();
    },
    setDelay(ms) {
      delay = ms;
      run?.setDelay?.(ms);
    },
  };
}

/** A {@link RestartableWho} in this process; `stop()` is grpc-js `forceShutdown` (calls in flight end CANCELLED). */
export function restartableWho(name: string): Promise<RestartableWho> {
  return restartable(name, async (port, delayMs) => {
    const { server, port: bound } = await startWhoServer(name, port, delayMs);
    return { port: bound, stop: async () => server.forceShutdown() };
  });
}

/**
 * A Who server that `close()` stops, forcing it after 1 s so a client still connected cannot hold
 * the test process; close() settles then whether or not grpc-js calls the tryShutdown callback.
 */
export async function whoBackend(name: string): Promise<{ port: number; close(): Promise<void> }> {
  const { server, port } = await startWhoServer(name);
  const close = () =>
    new Promise<void>((r) => {
      const force = setTimeout(() => {
        server.forceShutdown();
        r();
      }, 1000);
      server.tryShutdown(() => {
        clearTimeout(force);
        r();
      });
    });
  return { port, close };
}

/** One Who call, with `x-cache-shard: shard` when given; resolves with the answering node's name. */
export function who(client: Client, shard?: string): Promise<string> {
  const md = new Metadata();
  if (shard !== undefined) md.set('x-cache-shard', shard);
  return new Promise((resolve, reject) => {
    client.makeUnaryRequest(WHO_METHOD, raw, raw, Buffer.alloc(0), md, { deadline: Date.now() + 2000 }, (err: ServiceError | null, value?: Buffer) =>
      err ? reject(err) : resolve(value!.toString()),
    );
  });
}

/** Calls until the answer is `expected` (the client converges on pushed config), within 15 s. */
export async function untilAnswer(client: Client, shard: string | undefined, expected: string): Promise<void> {
  await eventually(`shard ${shard ?? '-'} answered by ${expected}`, () => who(client, shard), { accept: (answer) => answer === expected, timeoutMs: 15_000, intervalMs: 50 });
}
