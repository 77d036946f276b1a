/**
 * `GET /metrics` (docs/observability.md): every metric in Prometheus text format, rendered per
 * scrape by the metrics reader the telemetry stage hands the admin API.
 */
import type { FastifyInstance, FastifyPluginAsync } from 'fastify';
import type { MetricsReader } from '../core/stage.js';

export function metricsRoutes(reader: MetricsReader): FastifyPluginAsync {
  return async function register(app: FastifyInstance): Promise<void> {
    app.get('/metrics', async (_request, reply) => reply.type(reader.contentType).send(await reader.render()));
  };
}
