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
import type { Logger } from 'pino';
import type { ServingReader } from '../core/serving.js';
import type { StageReaders } from '../core/stage.js';
import { loopbackHostGuard } from './loopback-host.js';
import { bearerTokenGuard } from './auth.js';
import { errorBodies } from './error-body.js';
import { healthRoutes } from './health-routes.js';
import { metricsRoutes } from './metrics-routes.js';
import { openApiRoutes, recordRoutes } from './openapi/index.js';
import { proxyRoutes } from './proxy-routes.js';
import { REST_KEEP_ALIVE_TIMEOUT_MS, restWriteStallMsFromEnv } from './request-limits.js';
import { shardMapRoutes } from './shardmap-routes.js';
import { webViewRoutes } from './web/routes.js';
import { watchWriteStalls } from './write-stall.js';

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
   * rebinding). `keyway serve` sets it from `--admin-host`.
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
}

/**
 * Builds (does not start) the admin app over `state`. Call `listen()` on the result, or use
 * `inject()` in tests.
 */
export async function buildAdminApp(state: ServingReader, opts: AdminAppOptions = {}): Promise<FastifyInstance> {
  const writeStallMs = opts.writeStallMs ?? restWriteStallMsFromEnv(process.env);
  const log = opts.logger?.child({ component: 'admin' });
  const errors = errorBodies({
    guards: [...(opts.loopbackOnly ? [loopbackHostGuard()] : []), ...(opts.token !== undefined ? [bearerTokenGuard(opts.token)] : [])],
    ...(opts.requestTimeoutMs !== undefined ? { requestTimeoutMs: opts.requestTimeoutMs } : {}),
  });
  const app = Fastify({
    ...(log ? { loggerInstance: log } : { logger: false }),
    logController: new QuietRequests(),
    keepAliveTimeout: REST_KEEP_ALIVE_TIMEOUT_MS,
    ...errors.serverOptions,
  }) as unknown as FastifyInstance;
  errors.install(app);
  const stopStallWatch = watchWriteStalls(app.server, writeStallMs, log);
  app.addHook('onClose', async () => stopStallWatch());
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
