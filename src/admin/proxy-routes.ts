/**
 * The proxy routes (docs/api.md): `GET /v1/proxies`, one row per connected proxy with its per-type
 * sync status (SYNCED, STALE, NACKED with the error, NOT_SENT), like `istioctl proxy-status`; and
 * `GET /debug/config_dump?proxy=ID`, what that proxy was sent. Served when a stage hands the admin
 * API a proxy-status reader (the xDS stage does).
 */
import type { FastifyInstance, FastifyPluginAsync, FastifySchemaValidationError } from 'fastify';
import { DEFAULT_NAMES_SHOWN, MAX_NAMES_SHOWN, type ProxyStatusReader } from '../core/proxy.js';
import type { ProxiesBody } from './api-types.js';
import { errorBody, repeatedParameter } from './error-body.js';

/** The routes over a proxy-status reader (read-only). */
export function proxyRoutes(reader: ProxyStatusReader): FastifyPluginAsync {
  return async function register(app: FastifyInstance): Promise<void> {
    // Rows list at most `names` subscribed names per type (default DEFAULT_NAMES_SHOWN), so the body
    // stays small however many names a proxy subscribes to (docs/api.md); `proxy` picks one row.
    // `names` is a digit string, not `type: integer`: Ajv's coercion took "0x1", " ", "1e3" and "5 ".
    app.get<{ Querystring: { names?: string; proxy?: string } }>(
      '/v1/proxies',
      {
        schema: {
          querystring: {
            type: 'object',
            properties: { names: { type: 'string', pattern: '^[0-9]+$' }, proxy: { type: 'string', minLength: 1 } },
          },
        },
        attachValidation: true,
      },
      async (request, reply) => {
        for (const name of ['names', 'proxy']) {
          const repeated = repeatedParameter(request.query, name);
          if (repeated) return reply.code(400).send(errorBody('BAD_ARGUMENT', repeated, name));
        }
        const namesShown = request.query.names === undefined ? DEFAULT_NAMES_SHOWN : Number(request.query.names);
        if (failed(request.validationError, 'names') || namesShown > MAX_NAMES_SHOWN) {
          const got = JSON.stringify(request.query.names)?.slice(0, 40);
          return reply.code(400).send(errorBody('BAD_ARGUMENT', `query parameter "names" must be an integer from 0 to ${MAX_NAMES_SHOWN}, got ${got}`, 'names'));
        }
        if (request.validationError) return reply.code(400).send(errorBody('BAD_ARGUMENT', 'query parameter "proxy" must not be empty', 'proxy'));
        const opts = { namesShown };
        if (request.query.proxy === undefined) return { proxies: reader.proxies(opts) } satisfies ProxiesBody;
        const row = reader.proxy(request.query.proxy, opts);
        return { proxies: row ? [row] : [] } satisfies ProxiesBody;
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

/** Did the query schema reject `parameter`? */
function failed(error: { validation: readonly FastifySchemaValidationError[] } | undefined, parameter: string): boolean {
  return error?.validation.some((v) => v.instancePath === `/${parameter}`) === true;
}
