/**
 * The admin API's bearer token (docs/security.md "The admin API", docs/api.md "Authentication"):
 * with a token set, `/v1/...` and `/debug/...` need `Authorization: Bearer <token>` and answer 401
 * with the error body (code UNAUTHENTICATED) without it. The probes and the scrape (`/healthz`,
 * `/readyz`, `/metrics`), the web view's static files and `/openapi.json` stay open: they show no
 * cache-node address and the kubelet and Prometheus hold no token.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { RefusalLog } from '../xds/server/refusal-log.js';
import { errorBody, type RequestGuard } from './error-body.js';

/** The key of wrong-token refusals in the refusal log: one burst at a time, whatever the peer. */
export const WRONG_TOKEN_REFUSALS = 'admin token';

/** Path prefixes the token guards. */
export const GUARDED_PREFIXES = ['/v1/', '/debug/'] as const;

/** True when `url` (path and query) is under a guarded prefix, or is one without its slash. */
export function isGuarded(url: string): boolean {
  const path = url.split('?')[0]!;
  return GUARDED_PREFIXES.some((p) => path.startsWith(p) || path === p.slice(0, -1));
}

/**
 * True when a request for `url`, which the router matched to `route` (undefined: no route), is under
 * a guarded prefix. The route decides, not the raw URL: the router decodes percent-escapes, so
 * `/%761/shardmap` reaches /v1/shardmap. Without a match, the decoded path decides.
 */
export function isGuardedRequest(url: string, route: string | undefined): boolean {
  return isGuarded(route ?? decodedPath(url));
}

/**
 * The token check, run before any handler and before the router's own refusals (error-body.ts), so
 * an unknown `/v1/...` route, an undecodable one or one with a parameter too long answers 401, not
 * 404 or 414: a caller without the token learns nothing. The comparison is constant-time over
 * SHA-256 digests, so neither the token's content nor its length leaks through timing.
 *
 * A request that sends a wrong token goes to `refusals`, so guessing shows in the log: a `warn` line
 * with the peer and path when a burst starts, an `info` line with its count when it ends, never the
 * header. A request without the header is not logged: the web view's first call makes one.
 */
export function bearerTokenGuard(token: string, refusals?: RefusalLog): RequestGuard {
  if (token === '') throw new Error('the admin token is empty');
  const expected = digest(token);
  return (request, reply, route) => {
    if (!isGuardedRequest(request.url, route)) return false;
    const header = request.headers.authorization ?? '';
    const m = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(header);
    if (m && timingSafeEqual(digest(m[1]!), expected)) return false;
    const path = request.url.split('?')[0]!.slice(0, 200);
    const message = header === '' ? `${path} needs the admin token: send "Authorization: Bearer <token>"` : 'the admin token does not match';
    if (header !== '') {
      const peer = `${request.socket.remoteAddress ?? '?'}:${request.socket.remotePort ?? '?'}`;
      refusals?.refused(WRONG_TOKEN_REFUSALS, { peer, method: request.method, path }, `admin REST request from ${peer} refused 401: the admin token it sent does not match`);
    }
    void reply.code(401).header('www-authenticate', 'Bearer realm="keyway"').send(errorBody('UNAUTHENTICATED', message));
    return true;
  };
}

/**
 * The path of `url` as the router reads it: an absolute-form target (`http://host/v1/x`) reduced
 * to its path, cut at `?` or `#`, percent-escapes decoded. A path that does not decode (`/v1/%ZZ`)
 * still has its ASCII escapes decoded, so `/%761/%ZZ` is seen under `/v1/` as well.
 */
function decodedPath(url: string): string {
  const path = url.replace(/^https?:\/\/[^/?#]*/i, '').split(/[?#]/)[0]!;
  try {
    return decodeURIComponent(path);
  } catch {
    return path.replace(/%([0-7][0-9a-f])/gi, (_, hex: string) => String.fromCharCode(parseInt(hex, 16)));
  }
}

function digest(s: string): Buffer {
  return createHash('sha256').update(s, 'utf8').digest();
}
