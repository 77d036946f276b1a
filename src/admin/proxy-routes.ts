/**
 * The proxy routes (docs/api.md): `GET /v1/proxies`, one row per connected proxy with its per-type
 * sync status (SYNCED, STALE, NACKED with the error, NOT_SENT), like `istioctl proxy-status`; and
 * `GET /debug/config_dump?proxy=ID`, what that proxy was sent. Served when a stage hands the admin
 * API a proxy-status reader (the xDS stage does).
 */
import type { FastifyInstance, FastifyPluginAsync } from 'fastify';
import type { ProxyStatusReader } from '../core/proxy.js';
import type { ProxiesBody } from './api-types.js';
import { errorBody } from './error-body.js';

/** The routes over a proxy-status reader (read-only). */
export function proxyRoutes(reader: ProxyStatusReader): FastifyPluginAsync {
  return async function register(app: FastifyInstance): Promise<void> {
    app.get('/v1/proxies', async (): Promise<ProxiesBody> => ({ proxies: reader.proxies() }));

    app.get<{ Querystring: { proxy: string } }>(
      '/debug/config_dump',
      {
        schema: {
          querystring: { type: 'object', properties: { proxy: { type: 'string', minLength: 1 } }, required: ['proxy'] },
        },
      },
      async (request, reply) => {
        const id = request.query.proxy;
        const dump = reader.configDump(id);
        if (!dump) return reply.code(404).send(errorBody('NOT_FOUND', `no connected proxy ${JSON.stringify(id)}`, 'proxy'));
        return dump;
      },
    );
  };
}
