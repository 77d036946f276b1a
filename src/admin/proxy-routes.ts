/**
 * The proxy routes (docs/api.md): `GET /v1/proxies`, one row per connected proxy with its per-type
 * sync status (SYNCED, STALE, NACKED with the error, NOT_SENT), like `istioctl proxy-status`; and
 * `GET /debug/config_dump?proxy=ID`, what that proxy was sent. Served when a stage hands the admin
 * API a proxy-status reader (the xDS stage does).
 *
 * `/v1/proxies` pages like a Kubernetes list: `?limit=N` returns the first N rows in id order and a
 * `continue` token when more follow; `?continue=TOKEN` returns the rows after the last one returned.
 */
import type { FastifyInstance, FastifyPluginAsync, FastifySchemaValidationError } from 'fastify';
import {
  DEFAULT_NAMES_SHOWN,
  KINDS_OF_FLAVOR,
  MAX_NAMES_SHOWN,
  type ProxyFlavor,
  type ProxyStatus,
  type ProxyStatusReader,
} from '../core/proxy.js';
import { compareStrings } from '../core/order.js';
import { MAX_PROXIES_LIMIT, type ProxiesBody } from './api-types.js';
import { errorBody, repeatedParameter } from './error-body.js';


/** The query of `GET /v1/proxies`, as sent (all strings; checked by {@link proxiesQuery}). */
interface ProxiesQuerystring {
  readonly names?: string;
  readonly proxy?: string;
  readonly limit?: string;
  readonly continue?: string;
  readonly outOfSync?: string;
}

/** What a `continue` token says: the id of the last row returned, and the filter it was returned under. */
export interface ProxiesCursor {
  readonly after: string;
  readonly outOfSync: boolean;
}

/** A checked query: the rows asked for, or the 400 naming the parameter at fault. */
type ParsedQuery =
  | { readonly ok: true; readonly namesShown: number; readonly proxy?: string; readonly limit?: number; readonly after?: string; readonly outOfSync: boolean }
  | { readonly ok: false; readonly parameter: string; readonly message: string };

const PARAMETERS = ['names', 'proxy', 'limit', 'continue', 'outOfSync'] as const;

/** The routes over a proxy-status reader (read-only). */
export function proxyRoutes(reader: ProxyStatusReader): FastifyPluginAsync {
  return async function register(app: FastifyInstance): Promise<void> {
    // Rows list at most `names` subscribed names per type (default DEFAULT_NAMES_SHOWN), so the body
    // stays small however many names a proxy subscribes to (docs/api.md); `proxy` picks one row.
    // Numbers are digit strings, not `type: integer`: Ajv's coercion took "0x1", " ", "1e3" and "5 ".
    app.get<{ Querystring: ProxiesQuerystring }>(
      '/v1/proxies',
      {
        schema: {
          querystring: {
            type: 'object',
            properties: {
              names: { type: 'string', pattern: '^[0-9]+$' },
              proxy: { type: 'string', minLength: 1 },
              limit: { type: 'string', pattern: '^[0-9]+$' },
              continue: { type: 'string', minLength: 1 },
              outOfSync: { type: 'string', enum: ['true', 'false'] },
            },
          },
        },
        attachValidation: true,
      },
      async (request, reply) => {
        const q = proxiesQuery(request.query, request.validationError);
        if (!q.ok) return reply.code(400).send(errorBody('BAD_ARGUMENT', q.message, q.parameter));
        const opts = { namesShown: q.namesShown };
        // No paging and no filter asked: the whole list in one call, as before paging existed.
        if (q.limit === undefined && q.after === undefined && !q.outOfSync) {
          if (q.proxy === undefined) return { proxies: reader.proxies(opts) } satisfies ProxiesBody;
          const row = reader.proxy(q.proxy, opts);
          return { proxies: row ? [row] : [] } satisfies ProxiesBody;
        }
        return proxiesPage(reader, q.proxy === undefined ? connectedIds(reader) : [q.proxy], { ...q, opts }) satisfies ProxiesBody;
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

/**
 * One page: the rows of `ids` (sorted) after `after` that pass the filter, at most `limit`, and a
 * `continue` token when another such row exists now. Only the rows returned, and the one that tells
 * whether more follow, are built: a row costs far more than an id. With `outOfSync` every row up to
 * the page's end is built to be judged, but only the page crosses the wire.
 */
function proxiesPage(
  reader: ProxyStatusReader,
  ids: readonly string[],
  q: { readonly after?: string; readonly limit?: number; readonly outOfSync: boolean; readonly opts: { readonly namesShown: number } },
): ProxiesBody {
  const rows: ProxyStatus[] = [];
  for (let i = q.after === undefined ? 0 : firstAfter(ids, q.after); i < ids.length; i++) {
    const row = reader.proxy(ids[i]!, q.opts);
    // Gone since the ids were read, or an id the reader counts but serves no row for (an agent within its reconnect grace).
    if (!row || (q.outOfSync && !isOutOfSync(row))) continue;
    if (rows.length === q.limit) return { proxies: rows, continue: encodeCursor({ after: rows.at(-1)!.id, outOfSync: q.outOfSync }) };
    rows.push(row);
  }
  return { proxies: rows };
}

/**
 * Every connected node id, sorted as `reader.proxies()` sorts its rows (code-unit order), without
 * building a row: the union of the ids of each flavor.
 */
function connectedIds(reader: ProxyStatusReader): string[] {
  const ids = new Set<string>();
  for (const flavor of Object.keys(KINDS_OF_FLAVOR) as ProxyFlavor[]) for (const id of reader.nodeIds(flavor)) ids.add(id);
  return [...ids].sort(compareStrings);
}

/** Index of the first id of the sorted `ids` greater than `after` (binary search). */
function firstAfter(ids: readonly string[], after: string): number {
  let lo = 0;
  let hi = ids.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (compareStrings(ids[mid]!, after) <= 0) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Whether a row needs a look (`?outOfSync=true`): a type not SYNCED, or its node id used from several hosts. */
function isOutOfSync(row: ProxyStatus): boolean {
  return row.conflict === true || Object.values(row.types).some((t) => t?.status !== 'SYNCED');
}

/**
 * Checks the query. Each parameter is judged in turn, so the 400 names the first one at fault
 * whatever else the schema rejected.
 */
function proxiesQuery(query: ProxiesQuerystring, validation: { validation: readonly FastifySchemaValidationError[] } | undefined): ParsedQuery {
  for (const name of PARAMETERS) {
    const repeated = repeatedParameter(query, name);
    if (repeated) return { ok: false, parameter: name, message: repeated };
  }
  const bad = (parameter: string, message: string): ParsedQuery => ({ ok: false, parameter, message });
  const got = (value: string | undefined): string | undefined => JSON.stringify(value)?.slice(0, 40);
  const namesShown = query.names === undefined ? DEFAULT_NAMES_SHOWN : Number(query.names);
  if (failed(validation, 'names') || namesShown > MAX_NAMES_SHOWN) {
    return bad('names', `query parameter "names" must be an integer from 0 to ${MAX_NAMES_SHOWN}, got ${got(query.names)}`);
  }
  if (failed(validation, 'proxy')) return bad('proxy', 'query parameter "proxy" must not be empty');
  const limit = query.limit === undefined ? undefined : Number(query.limit);
  if (failed(validation, 'limit') || (limit !== undefined && (limit < 1 || limit > MAX_PROXIES_LIMIT))) {
    return bad('limit', `query parameter "limit" must be an integer from 1 to ${MAX_PROXIES_LIMIT}, got ${got(query.limit)}`);
  }
  if (failed(validation, 'outOfSync')) return bad('outOfSync', `query parameter "outOfSync" must be true or false, got ${got(query.outOfSync)}`);
  const outOfSync = query.outOfSync === 'true';
  let after: string | undefined;
  if (query.continue !== undefined) {
    const cursor = decodeCursor(query.continue);
    if (!cursor) {
      return bad('continue', `query parameter "continue" is not a continue token of GET /v1/proxies, got ${got(query.continue)}: pass the "continue" of the previous page unchanged`);
    }
    if (cursor.outOfSync !== outOfSync) {
      return bad('continue', `query parameter "continue" was returned for outOfSync=${cursor.outOfSync}: ask for the next page with outOfSync=${cursor.outOfSync}, or start over without "continue"`);
    }
    after = cursor.after;
  }
  return {
    ok: true,
    namesShown,
    outOfSync,
    ...(query.proxy !== undefined && { proxy: query.proxy }),
    ...(limit !== undefined && { limit }),
    ...(after !== undefined && { after }),
  };
}

/** Did the query schema reject `parameter`? */
function failed(error: { validation: readonly FastifySchemaValidationError[] } | undefined, parameter: string): boolean {
  return error?.validation.some((v) => v.instancePath === `/${parameter}`) === true;
}

/**
 * The `continue` token: base64url (unpadded) of `{"list":"proxies","after":ID,"outOfSync":BOOL}`.
 * Opaque to callers; it names the list it pages so a token of another list, or an edited one, is
 * refused rather than read as some other position.
 */
export function encodeCursor(cursor: ProxiesCursor): string {
  return Buffer.from(JSON.stringify({ list: 'proxies', after: cursor.after, outOfSync: cursor.outOfSync }), 'utf8').toString('base64url');
}

/** The cursor of a token {@link encodeCursor} wrote; undefined for anything else. */
export function decodeCursor(token: string): ProxiesCursor | undefined {
  if (!/^[A-Za-z0-9_-]+$/.test(token)) return undefined;
  const bytes = Buffer.from(token, 'base64url');
  // Base64 that does not re-encode to itself (stray bits in the last character) is not one of ours.
  if (bytes.toString('base64url') !== token) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch {
    return undefined;
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined;
  const { list, after, outOfSync, ...rest } = value as Record<string, unknown>;
  if (list !== 'proxies' || typeof after !== 'string' || typeof outOfSync !== 'boolean' || Object.keys(rest).length > 0) return undefined;
  return { after, outOfSync };
}
