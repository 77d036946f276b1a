/**
 * Builds the OpenAPI 3.1 document of the admin server (`GET /openapi.json`): one operation per
 * registered route, described by the catalog, with parameters taken from the route's fastify
 * schema where it has one. Pure.
 */
import { isGuarded } from '../auth.js';
import { ROUTE_DOCS, type ParameterDoc, type RouteDoc } from './catalog.js';
import { SCHEMAS } from './schemas.js';

/** A route as fastify's onRoute hook reports it. */
export interface RegisteredRoute {
  readonly method: string | readonly string[];
  readonly url: string;
  readonly schema?: { readonly querystring?: unknown; readonly params?: unknown };
}

export type OpenApiDocument = {
  openapi: string;
  info: { title: string; version: string; description: string };
  paths: Record<string, Record<string, Record<string, unknown>>>;
  components: { schemas: Record<string, unknown>; securitySchemes: Record<string, unknown> };
  tags: { name: string }[];
};

/** Set on operations of routes that have no catalog entry; the OpenAPI test forbids it. */
export const UNDOCUMENTED = 'x-keyway-undocumented';

/** `/v1/shards/:shard` to `/v1/shards/{shard}`. */
export function openApiPath(url: string): string {
  return url.replace(/:([A-Za-z0-9_]+)/g, '{$1}');
}

/** `METHOD /path` keys (OpenAPI path syntax) of the routes, HEAD left out where GET exists. */
export function routeKeys(routes: readonly RegisteredRoute[]): string[] {
  const keys = new Set<string>();
  for (const r of routes) {
    for (const m of Array.isArray(r.method) ? r.method : [r.method as string]) keys.add(`${m.toUpperCase()} ${openApiPath(r.url)}`);
  }
  for (const k of [...keys]) if (k.startsWith('HEAD ') && keys.has(`GET ${k.slice(5)}`)) keys.delete(k);
  return [...keys].sort();
}

/**
 * The document of `GET /openapi.json` (docs/api.md "Meta and web view"). A route without a catalog
 * entry is still listed, marked UNDOCUMENTED, so the OpenAPI test catches it.
 */
export function buildOpenApiDocument(routes: readonly RegisteredRoute[], opts: { readonly version: string }): OpenApiDocument {
  const paths: OpenApiDocument['paths'] = {};
  const byKey = new Map<string, RegisteredRoute>();
  for (const r of routes) {
    for (const m of Array.isArray(r.method) ? r.method : [r.method as string]) byKey.set(`${m.toUpperCase()} ${openApiPath(r.url)}`, r);
  }
  const tags = new Set<string>();
  for (const key of routeKeys(routes)) {
    const [method, path] = splitKey(key);
    const doc = ROUTE_DOCS[key];
    const route = byKey.get(key)!;
    const operation: Record<string, unknown> = doc ? operationOf(doc, route) : undocumented(route);
    if (doc && isGuarded(path)) Object.assign(operation, guarded(operation));
    operation.operationId = operationId(method, path);
    for (const t of (operation.tags as string[] | undefined) ?? []) tags.add(t);
    (paths[path] ??= {})[method.toLowerCase()] = operation;
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'keyway admin API',
      version: opts.version,
      description:
        'The REST API of keyway, an xDS control plane that assigns cache shards to GPU nodes. It reads state and never writes it. ' +
        'Every 4xx and 5xx answer has the body `{"error": {"code", "message", "parameter"}}` (components.schemas.Error). See docs/api.md.',
    },
    tags: [...tags].sort().map((name) => ({ name })),
    paths,
    components: {
      schemas: { ...SCHEMAS },
      securitySchemes: {
        adminToken: {
          type: 'http',
          scheme: 'bearer',
          description: 'The token of `keyway serve --admin-token-file`, required for /v1 and /debug when it is set (docs/security.md "The admin API").',
        },
      },
    },
  };
}

function splitKey(key: string): [string, string] {
  const i = key.indexOf(' ');
  return [key.slice(0, i), key.slice(i + 1)];
}

function operationOf(doc: RouteDoc, route: RegisteredRoute): Record<string, unknown> {
  const parameters = mergeParameters(doc.parameters ?? [], route);
  return {
    summary: doc.summary,
    description: doc.description,
    tags: [...doc.tags],
    ...(parameters.length > 0 ? { parameters } : {}),
    responses: {
      ...doc.responses,
      ...('default' in doc.responses ? {} : { default: { description: 'An error.', content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } } }),
    },
  };
}

/**
 * A route under /v1 or /debug: the admin token when keyway has one, none otherwise (`{}`), and
 * the 401 it answers without it.
 */
function guarded(operation: Record<string, unknown>): Record<string, unknown> {
  const error = { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } };
  return {
    security: [{ adminToken: [] }, {}],
    responses: {
      ...(operation.responses as Record<string, unknown>),
      '401': { description: 'The admin token is missing or wrong (code UNAUTHENTICATED); only when keyway runs with --admin-token-file.', content: error },
    },
  };
}

/** The catalog's parameters, with `schema` and `required` from the route's fastify schema where it declares them. */
function mergeParameters(documented: readonly ParameterDoc[], route: RegisteredRoute): Record<string, unknown>[] {
  const fromRoute = [...schemaParameters(route.schema?.params, 'path'), ...schemaParameters(route.schema?.querystring, 'query')];
  const out = documented.map((p) => {
    const r = fromRoute.find((x) => x.name === p.name && x.in === p.in);
    return { ...p, ...(r ? { schema: r.schema, required: p.in === 'path' ? true : r.required } : {}) };
  });
  for (const r of fromRoute) {
    if (!out.some((p) => p.name === r.name && p.in === r.in)) out.push({ ...r, description: '' });
  }
  return out;
}

/** Parameters declared by a fastify `params`/`querystring` object schema. */
export function schemaParameters(schema: unknown, where: 'path' | 'query'): { name: string; in: 'path' | 'query'; required: boolean; schema: unknown }[] {
  const s = schema as { properties?: Record<string, unknown>; required?: string[] } | undefined;
  if (!s || typeof s !== 'object' || !s.properties) return [];
  return Object.entries(s.properties).map(([name, sub]) => ({
    name,
    in: where,
    required: where === 'path' || (s.required ?? []).includes(name),
    schema: sub,
  }));
}

function undocumented(route: RegisteredRoute): Record<string, unknown> {
  const parameters = [...schemaParameters(route.schema?.params, 'path'), ...schemaParameters(route.schema?.querystring, 'query')];
  const pathParams = [...openApiPath(route.url).matchAll(/\{([^}]+)\}/g)].map((m) => m[1]!);
  for (const name of pathParams) {
    if (!parameters.some((p) => p.name === name && p.in === 'path')) parameters.push({ name, in: 'path', required: true, schema: { type: 'string' } });
  }
  return {
    summary: 'Undocumented route',
    description: 'This route has no entry in src/admin/openapi/catalog.ts.',
    [UNDOCUMENTED]: true,
    ...(parameters.length > 0 ? { parameters } : {}),
    responses: { default: { description: 'Not described.' } },
  };
}

function operationId(method: string, path: string): string {
  const words = path
    .split(/[^A-Za-z0-9]+/)
    .filter(Boolean)
    .map((w) => w[0]!.toUpperCase() + w.slice(1));
  return `${method.toLowerCase()}${words.join('') || 'Root'}`;
}
