/**
 * The xDS stage's REST routes (issue 3 item 6; README "REST API"): `GET /v1/proxies`, one row per
 * connected proxy with its per-type sync status (SYNCED, STALE, NACKED with the error, NOT_SENT),
 * like `istioctl proxy-status`; and `GET /debug/config_dump?proxy=ID`, what that proxy was sent.
 * Errors use the admin error body.
 */
import type { FastifyInstance, FastifyPluginAsync } from 'fastify';
import { errorBody } from './error-body.js';
import { proxyConfigDump } from '../xds/server/config-dump.js';
import type { XdsServer } from '../xds/server/index.js';

/** The admin routes over a running xDS server (read-only). */
export function xdsAdminRoutes(server: Pick<XdsServer, 'proxies' | 'proxy' | 'sentResources'>): FastifyPluginAsync {
  return async function register(app: FastifyInstance): Promise<void> {
    app.get('/v1/proxies', async () => ({ proxies: server.proxies() }));

    app.get<{ Querystring: { proxy: string } }>(
      '/debug/config_dump',
      {
        schema: {
          querystring: { type: 'object', properties: { proxy: { type: 'string', minLength: 1 } }, required: ['proxy'] },
        },
      },
      async (request, reply) => {
        const id = request.query.proxy;
        const row = server.proxy(id);
        const sent = server.sentResources(id);
        if (!row || !sent) return reply.code(404).send(errorBody('NOT_FOUND', `no connected proxy ${JSON.stringify(id)}`, 'proxy'));
        return proxyConfigDump(row, sent);
      },
    );
  };
}
