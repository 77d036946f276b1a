/**
 * The web view (docs/api.md "Web view"): a static page at `/` whose script reads
 * the REST API (`/readyz`, `/v1/shardmap`, `/v1/changes`, `/v1/proxies`). No build step: the files
 * under `static/` are served as they are, read once when the app is built.
 */
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance } from 'fastify';

/** Files of the page: route, file under static/, Content-Type. */
export const WEB_ASSETS = [
  { route: '/', file: 'index.html', type: 'text/html; charset=utf-8' },
  { route: '/web/app.js', file: 'app.js', type: 'text/javascript; charset=utf-8' },
  { route: '/web/style.css', file: 'style.css', type: 'text/css; charset=utf-8' },
] as const;

/** Same-origin only: the page loads its own script and style and talks to its own API. */
const CONTENT_SECURITY_POLICY = "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'";

/**
 * The static/ directory: next to this module when run from source; when run from dist/ (tsc does
 * not copy non-TypeScript files), the same path under src/ of the package.
 */
export function staticDir(moduleUrl: string = import.meta.url): string {
  const here = fileURLToPath(new URL('./static/', moduleUrl));
  if (existsSync(here)) return here;
  const fromDist = here.replace(/([/\\])dist([/\\])(?:src[/\\])?admin([/\\])web([/\\])static([/\\])?$/, '$1src$2admin$3web$4static$5');
  if (existsSync(fromDist)) return fromDist;
  throw new Error(`keyway web view: static files not found at ${here} or ${fromDist}`);
}

/**
 * The admin plugin for the web view's page and assets (docs/api.md "Meta and web view"), sent with
 * no-cache and a same-origin CSP so a browser never runs a stale or foreign script.
 */
export function webViewRoutes() {
  return async function register(app: FastifyInstance): Promise<void> {
    const dir = staticDir();
    for (const asset of WEB_ASSETS) {
      const body = readFileSync(`${dir}${asset.file}`);
      app.get(asset.route, async (_request, reply) =>
        reply
          .header('content-type', asset.type)
          .header('cache-control', 'no-cache')
          .header('content-security-policy', CONTENT_SECURITY_POLICY)
          .header('x-content-type-options', 'nosniff')
          .send(body),
      );
    }
  };
}
