/**
 * The admin HTTP server (docs/architecture.md "Who writes state": it reads state through readers, it never
 * writes it). Fastify, with JSON-schema-checked parameters and one error body shape for every route.
 */
import Fastify, {
  type FastifyInstance,
  type FastifyPluginAsync,
  type FastifyReply,
  type FastifyRequest,
  LogController,
} from 'fastify';
import type { Server } from 'node:http';
import type { Socket } from 'node:net';
import type { Logger } from 'pino';
import { envLimit } from '../core/env-limit.js';
import type { ServingReader } from '../core/serving.js';
import type { StageReaders } from '../core/stage.js';
import { listensOnLoopback, loopbackHostGuard } from './loopback-host.js';
import { bearerTokenGuard, isGuardedRequest } from './auth.js';
import { errorBodies } from './error-body.js';
import { healthRoutes } from './health-routes.js';
import { metricsRoutes } from './metrics-routes.js';
import { openApiRoutes, recordRoutes } from './openapi/index.js';
import { proxyRoutes } from './proxy-routes.js';
import { REST_KEEP_ALIVE_TIMEOUT_MS, restWriteStallMsFromEnv } from './request-limits.js';
import { shardMapRoutes } from './shardmap-routes.js';
import { webViewRoutes } from './web/routes.js';
import { watchWriteStalls } from './write-stall.js';
import { RefusalLog } from '../xds/server/refusal-log.js';

export interface AdminAppOptions {
  /** Request errors are logged here; request lines only at debug level. */
  readonly logger?: Logger;
  /** The stages' readers: each adds its routes (`/v1/proxies` and `/debug/config_dump`, `/metrics`). */
  readonly readers?: readonly StageReaders[];
  /**
   * More routes, registered after keyway's own (an embedding program's, or a test's). Each is a
   * fastify plugin; it should answer errors with `errorBody()`.
   */
  readonly routes?: readonly FastifyPluginAsync[];
  /** The bearer token `/v1` and `/debug` require (see auth.ts); absent: they are open. */
  readonly token?: string;
  /**
   * The app listens on loopback only: requests must name a loopback host (loopback-host.ts, DNS
   * rebinding). `keyway serve` sets it from `--admin-host`. Without it, the guard still turns on
   * once the app listens on a loopback address, whatever name it was given to bind.
   */
  readonly loopbackOnly?: boolean;
  /** Time to receive a whole request before a 408 (docs/security.md "REST requests"); default REST_REQUEST_TIMEOUT_MS. */
  readonly requestTimeoutMs?: number;
  /**
   * Time a connection may hold answer bytes its client takes none of before it is closed
   * (docs/security.md "REST requests"); default: KEYWAY_ADMIN_WRITE_STALL_MS from the environment,
   * else REST_WRITE_STALL_MS. Read here because `keyway serve` passes the admin app no limits.
   */
  readonly writeStallMs?: number;
  /**
   * Open connections one peer address may hold (docs/security.md "REST requests"); default:
   * KEYWAY_ADMIN_MAX_CONNECTIONS_PER_PEER from the environment, else ADMIN_MAX_CONNECTIONS_PER_PEER.
   */
  readonly maxConnectionsPerPeer?: number;
}

/**
 * Open connections one peer address may hold on the admin server; a connection past it is closed as
 * it is accepted. Each idle keep-alive connection costs about 7.5 KB, and one request every 71 s
 * keeps it open (the keep-alive timeout is 72 s): 8000 of them added 59 MB, with no bound before.
 *
 * Per address, not in all (`server.maxConnections`): keyway cannot tell a fleet of ShardMapClients
 * (a thousand application pods polling /readyz, an address each) from one client with many
 * addresses, and a cap in all, once one client filled it, would refuse the kubelet's probes too and
 * have every replica restarted. Per address, one client holds at most 64 x 7.5 KB (about 0.5 MB),
 * and the kubelet, Prometheus and other clients, each from its own address, still get through. 64 is
 * far above what one address needs: a browser opens 6 connections per host, the kubelet one per
 * probe; the processes of one pod share its address, so a pod with more than 64 clients raises it.
 * Outside Kubernetes the API listens on loopback and every client is 127.0.0.1: the cap is then one
 * in all, for the CLI and a few browsers.
 */
export const ADMIN_MAX_CONNECTIONS_PER_PEER = 64;
/** The variable `keyway serve` reads ADMIN_MAX_CONNECTIONS_PER_PEER's override from. */
export const ADMIN_MAX_CONNECTIONS_PER_PEER_ENV = 'KEYWAY_ADMIN_MAX_CONNECTIONS_PER_PEER';

/**
 * ADMIN_MAX_CONNECTIONS_PER_PEER, or its override from `env` (a positive integer): a malformed
 * value is an error rather than silently the default.
 * @throws KeywayError BAD_ARGUMENT naming the variable
 */
export function adminMaxConnectionsPerPeerFromEnv(env: NodeJS.ProcessEnv): number {
  return envLimit(env, ADMIN_MAX_CONNECTIONS_PER_PEER_ENV, ADMIN_MAX_CONNECTIONS_PER_PEER);
}

/**
 * Builds (does not start) the admin app over `state`. Call `listen()` on the result, or use
 * `inject()` in tests.
 */
export async function buildAdminApp(state: ServingReader, opts: AdminAppOptions = {}): Promise<FastifyInstance> {
  const writeStallMs = opts.writeStallMs ?? restWriteStallMsFromEnv(process.env);
  const maxPerPeer = opts.maxConnectionsPerPeer ?? adminMaxConnectionsPerPeerFromEnv(process.env);
  const log = opts.logger?.child({ component: 'admin' });
  const wrongTokens = log && opts.token !== undefined ? new RefusalLog(log, undefined, 'admin REST requests refused') : undefined;
  // Bound to loopback, by whatever name: read once listening (the socket's address is a system call).
  let boundToLoopback = false;
  const onLoopback = (): boolean => opts.loopbackOnly === true || boundToLoopback;
  const errors = errorBodies({
    guards: [loopbackHostGuard(onLoopback), ...(opts.token !== undefined ? [bearerTokenGuard(opts.token, wrongTokens)] : [])],
    ...(opts.requestTimeoutMs !== undefined ? { requestTimeoutMs: opts.requestTimeoutMs } : {}),
    answerHeaders: safeAnswerHeaders,
  });
  const app = Fastify({
    ...(log ? { loggerInstance: log } : { logger: false }),
    logController: new QuietRequests(),
    keepAliveTimeout: REST_KEEP_ALIVE_TIMEOUT_MS,
    ...errors.serverOptions,
  }) as unknown as FastifyInstance;
  errors.install(app);
  app.server.on('listening', () => void (boundToLoopback = listensOnLoopback(app.server)));
  const stopStallWatch = watchWriteStalls(app.server, writeStallMs, log);
  app.addHook('onClose', async () => stopStallWatch());
  app.addHook('onClose', async () => wrongTokens?.close());
  const stopPeerCap = capConnectionsPerPeer(app.server, maxPerPeer, log);
  app.addHook('onClose', async () => stopPeerCap());
  const registered = recordRoutes(app); // before any route, so /openapi.json sees them all
  const proxyReaders = (opts.readers ?? []).flatMap((r) => (r.proxies ? [r.proxies] : []));
  await app.register(healthRoutes(state, proxyReaders));
  await app.register(shardMapRoutes(state));
  await app.register(webViewRoutes());
  await app.register(openApiRoutes(registered));
  for (const readers of opts.readers ?? []) {
    if (readers.proxies) await app.register(proxyRoutes(readers.proxies));
    if (readers.metrics) await app.register(metricsRoutes(readers.metrics));
  }
  for (const routes of opts.routes ?? []) await app.register(routes);
  return app;
}

/**
 * Closes, as it is accepted, a connection from an address that already holds `cap` open ones;
 * refusals are logged once per burst (a client reconnecting in a loop would flood the log).
 * Returns a close function (stops counting, logs the burst under way).
 */
function capConnectionsPerPeer(server: Server, cap: number, log?: Logger): () => void {
  const open = new Map<string, number>();
  const refusals = log ? new RefusalLog(log, undefined, 'admin REST connections refused') : undefined;
  const onConnection = (socket: Socket): void => {
    const address = socket.remoteAddress;
    if (address === undefined) return; // already gone
    const held = open.get(address) ?? 0;
    if (held >= cap) {
      socket.destroy();
      refusals?.refused(
        ADMIN_MAX_CONNECTIONS_PER_PEER_ENV,
        { peer: `${address}:${socket.remotePort}` },
        `admin REST connection from ${address} closed as accepted: that address holds ${cap} open connections, the most one address may`,
      );
      return;
    }
    open.set(address, held + 1);
    socket.once('close', () => {
      const left = (open.get(address) ?? 1) - 1;
      if (left > 0) open.set(address, left);
      else open.delete(address);
    });
  };
  server.on('connection', onConnection);
  return () => {
    server.off('connection', onConnection);
    refusals?.close();
  };
}

/**
 * Headers every answer carries, whatever route or refusal wrote it. `nosniff`: the bodies quote text
 * others wrote (node ids, localities, NACK messages, the request's own key and path), so a browser
 * must read them as the type sent and never sniff one as a page or a script. `no-store` on the
 * answers under /v1 and /debug (the shard map, addresses, what each proxy was sent) that set no
 * caching of their own: with a token they are what it guards, and no cache, a browser's disk
 * cache or a proxy's, should keep them. `/v1/shardmap` keeps its `no-cache` (docs/api.md): a
 * client revalidates it with its ETag.
 */
function safeAnswerHeaders(request: FastifyRequest, reply: FastifyReply, route: string | undefined): void {
  void reply.header('x-content-type-options', 'nosniff');
  if (!reply.hasHeader('cache-control') && isGuardedRequest(request.url, route)) void reply.header('cache-control', 'no-store');
}

/** Request lines at debug level only: probes every few seconds would otherwise flood the info log. */
class QuietRequests extends LogController {
  override incomingRequest(): void {}
  override requestCompleted(error: Error | null | undefined, request: FastifyRequest, reply: FastifyReply): void {
    request.log.debug(
      { method: request.method, url: request.url, statusCode: reply.statusCode, ms: Math.round(reply.elapsedTime), err: error ?? undefined },
      'request completed',
    );
  }
}
