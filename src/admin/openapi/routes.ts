/**
 * `GET /openapi.json` (docs/api.md): the OpenAPI 3.1 document of every route the admin server
 * answers. Routes are recorded by an onRoute hook installed before any other route, so the routes
 * that later stages add (the xDS stage's `/v1/proxies`, telemetry's `/metrics`) are described too.
 */
import { readFileSync } from 'node:fs';
import type { FastifyInstance } from 'fastify';
import { buildOpenApiDocument, type OpenApiDocument, type RegisteredRoute } from './document.js';

/** Records every route registered on `app` (and its child plugins) from now on. */
export function recordRoutes(app: FastifyInstance): RegisteredRoute[] {
  const routes: RegisteredRoute[] = [];
  app.addHook('onRoute', (opts) => {
    routes.push({ method: opts.method, url: opts.url, ...(opts.schema ? { schema: opts.schema as RegisteredRoute['schema'] } : {}) });
  });
  return routes;
}

const PACKAGE_VERSION = (() => {
  // The package root is three levels up from src/admin/openapi, four from dist/src/admin/openapi.
  for (const path of ['../../../package.json', '../../../../package.json']) {
    try {
      const pkg = JSON.parse(readFileSync(new URL(path, import.meta.url), 'utf8')) as { name?: string; version: string };
      if (pkg.name === 'keyway') return pkg.version;
    } catch {
      // not there: one level up
    }
  }
  return '0.0.0';
})();

/** Serves the document built from `routes` (read when first asked: every route exists by then). */
export function openApiRoutes(routes: readonly RegisteredRoute[]) {
  return async function register(app: FastifyInstance): Promise<void> {
    let doc: OpenApiDocument | undefined;
    let seen = -1;
    app.get('/openapi.json', async () => {
      if (!doc || seen !== routes.length) {
        doc = buildOpenApiDocument(routes, { version: PACKAGE_VERSION });
        seen = routes.length;
      }
      return doc;
    });
  };
}
