/**
 * Probes (docs/api.md "Observability and probes"): `GET /healthz` answers 200 while the process serves; `GET /readyz`
 * answers 200 when a shard map with owners is in force and 503 with the reason otherwise.
 */
import type { FastifyInstance } from 'fastify';
import type { ServingReader } from '../core/serving.js';
import type { ReadyzBody } from './api-types.js';
import { sourcesDetail } from './sources-detail.js';

export function healthRoutes(state: ServingReader) {
  return async function register(app: FastifyInstance): Promise<void> {
    app.get('/healthz', async () => ({ ok: true }));

    app.get('/readyz', async (_request, reply) => {
      const view = state.current();
      const detail = sourcesDetail(state);
      if (!view) {
        const body: ReadyzBody = { ready: false, reason: 'no valid topology loaded yet: no shard map', ...detail };
        return reply.code(503).send(body);
      }
      const { map } = view;
      const ownedShards = map.owners.reduce((n, owners) => n + (owners.length > 0 ? 1 : 0), 0);
      const readyEndpoints = map.endpoints.filter((e) => e.ready && e.weight > 0).length;
      const summary = {
        version: map.version,
        shardCount: map.policy.shardCount,
        ownedShards,
        endpoints: map.endpoints.length,
        readyEndpoints,
        warnings: map.warnings,
        ...detail,
      };
      if (ownedShards === 0) {
        const reason =
          map.endpoints.length === 0
            ? 'no endpoints: every shard is without owners'
            : `no ready endpoint with weight > 0 among ${map.endpoints.length}: every shard is without owners`;
        const body: ReadyzBody = { ready: false, reason, ...summary };
        return reply.code(503).send(body);
      }
      const body: ReadyzBody = { ready: true, ...summary };
      return body;
    });
  };
}
