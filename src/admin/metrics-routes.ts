/**
 * `GET /metrics` (docs/observability.md): every metric in Prometheus text format, rendered for each
 * scrape by the metrics reader the telemetry stage hands the admin API: one render at a time, shared
 * by the requests that arrived before it started, and paced so a flood cannot take the event loop
 * (metrics-pacing.ts).
 */
import type { FastifyInstance, FastifyPluginAsync } from 'fastify';
import type { MetricsReader } from '../core/stage.js';
import { errorBody } from './error-body.js';
import { MetricsBusyError, metricsMaxWaitingFromEnv, pacedRender, refusalLog, type PacedRenderOptions } from './metrics-pacing.js';

/**
 * The admin plugin Prometheus scrapes (docs/api.md "Observability and probes"); the names it exposes are in docs/observability.md "Metrics".
 * `opts.maxWaiting` defaults to KEYWAY_ADMIN_METRICS_MAX_WAITING from the environment, else METRICS_MAX_WAITING.
 * @throws KeywayError BAD_ARGUMENT when that variable is malformed
 */
export function metricsRoutes(reader: MetricsReader, opts: PacedRenderOptions = {}): FastifyPluginAsync {
  const body = pacedRender(() => reader.render(), { ...opts, maxWaiting: opts.maxWaiting ?? metricsMaxWaitingFromEnv(process.env) });
  return async function register(app: FastifyInstance): Promise<void> {
    const refused = refusalLog(app.log);
    app.get('/metrics', async (_request, reply) => {
      let pending: Promise<Buffer>;
      try {
        pending = body();
      } catch (err) {
        if (!(err instanceof MetricsBusyError)) throw err;
        refused(err);
        return reply.code(503).header('retry-after', String(err.retryAfterS)).send(errorBody(err.code, err.message));
      }
      return reply.type(reader.contentType).send(await pending);
    });
  };
}
