/**
 * `GET /metrics` (docs/observability.md): every metric in Prometheus text format, rendered per
 * scrape by the metrics reader the telemetry stage hands the admin API.
 */
import type { FastifyInstance, FastifyPluginAsync } from 'fastify';
import type { MetricsReader } from '../core/stage.js';

/** The admin plugin Prometheus scrapes (docs/api.md "Observability and probes"); the names it exposes are in docs/observability.md "Metrics". */
export function metricsRoutes(reader: MetricsReader): FastifyPluginAsync {
  return async function register(app: FastifyInstance): Promise<void> {
    app.get('/metrics', async (_request, reply) => reply.type(reader.contentType).send(await reader.render()));
  };
}
