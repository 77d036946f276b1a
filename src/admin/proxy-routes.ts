/**
 * The proxy routes (docs/api.md): `GET /v1/proxies`, one row per connected proxy with its per-type
 * sync status (SYNCED, STALE, NACKED with the error, NOT_SENT), like `istioctl proxy-status`; and
 * `GET /debug/config_dump?proxy=ID`, what that proxy was sent. Served when a stage hands the admin
 * API a proxy-status reader (the xDS stage does).
 */
import type { FastifyInstance, FastifyPluginAsync } from 'fastify';
import { DEFAULT_NAMES_SHOWN, MAX_NAMES_SHOWN, type ProxyStatusReader } from '../core/proxy.js';
import type { ProxiesBody } from './api-types.js';
import { errorBody } from './error-body.js';


/** The routes over a proxy-status reader (read-only). */
export function proxyRoutes(reader: ProxyStatusReader): FastifyPluginAsync {
  return async function register(app: FastifyInstance): Promise<void> {
    // Rows list at most `names` subscribed names per type (default DEFAULT_NAMES_SHOWN), so the body
    // stays small however many names a proxy subscribes to (docs/api.md); `proxy` picks one row.
    app.get<{ Querystring: { names?: number; proxy?: string } }>(
      '/v1/proxies',
      {
        schema: {
          querystring: {
            type: 'object',
            properties: { names: { type: 'integer', minimum: 0, maximum: MAX_NAMES_SHOWN }, proxy: { type: 'string', minLength: 1 } },
          },
        },
      },
      async (request): Promise<ProxiesBody> => {
        const opts = { namesShown: request.query.names ?? DEFAULT_NAMES_SHOWN };
        if (request.query.proxy === undefined) return { proxies: reader.proxies(opts) };
        const row = reader.proxy(request.query.proxy, opts);
        return { proxies: row ? [row] : [] };
      },
    );

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
