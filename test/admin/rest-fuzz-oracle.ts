/**
 * What every answer of the REST fuzz test (rest-fuzz.test.ts) must satisfy, whatever was asked:
 * no 5xx and no hang, a status docs/api.md lists, keyway's error body with a code of
 * docs/errors.md, a body that matches the OpenAPI document for its route and status, and no
 * answer from /v1 or /debug without the admin token, however the path is spelled.
 */
import { readFileSync } from 'node:fs';
import type { OpenApiDocument } from '../../src/admin/openapi/index.js';
import type { RawAnswer } from './rest-fuzz-client.js';
import type { FuzzRequest } from './rest-fuzz-gen.js';

/** docs/api.md "Errors": the code each error status answers. */
const CODE_OF_STATUS: Readonly<Record<number, string>> = {
  400: 'BAD_ARGUMENT',
  401: 'UNAUTHENTICATED',
  404: 'NOT_FOUND',
  408: 'LIMIT_EXCEEDED',
  413: 'LIMIT_EXCEEDED',
  414: 'LIMIT_EXCEEDED',
  431: 'LIMIT_EXCEEDED',
  503: 'SOURCE_UNAVAILABLE',
};

/** The codes docs/errors.md lists. */
export function documentedCodes(): ReadonlySet<string> {
  const md = readFileSync('docs/errors.md', 'utf8');
  return new Set([...md.matchAll(/^\| `([A-Z_]+)` \|/gm)].map((m) => m[1]!));
}

type Responses = Record<string, { content?: Record<string, { schema: unknown }> }>;

/**
 * The OpenAPI path fastify's router sends `target` to, by RFC 3986 and find-my-way's rules written
 * out independently (absolute-form stripped, query and fragment cut, escapes of unreserved
 * characters decoded, `%2F` kept, no case or slash folding); undefined when it does not route.
 */
export function routedPath(target: string, paths: readonly string[]): { path?: string; decoded?: string } {
  // Node's parser ends the target at a space (and takes `GET /a  HTTP/1.1`).
  let p = target.split(' ')[0]!;
  if (!p.startsWith('/')) {
    // keyway refuses any other form (`*`, `*v1/shardmap`: find-my-way would route it from its second character).
    const abs = /^https?:\/\/([^/?#]*)(.*)$/i.exec(p);
    if (!abs || abs[1] === '' || p.includes('#')) return {};
    p = abs[2]!.startsWith('/') ? abs[2]! : `/${abs[2]!}`;
  }
  const cut = p.slice(1).search(/[?#]/);
  if (cut >= 0) p = p.slice(0, cut + 1);
  let decoded: string;
  try {
    decoded = p.replace(/(?:%[0-9a-fA-F]{2})+/g, (run) => {
      const text = decodeURIComponent(run);
      // Reserved characters stay escaped in the path (they decode in parameters only).
      return [...text].map((c) => ('#$&+,/:;=?@%'.includes(c) ? encodeURIComponent(c) : c)).join('');
    });
    if (/%(?![0-9a-fA-F]{2})/.test(p)) return {};
  } catch {
    return {};
  }
  const path = paths.find((template) => new RegExp(`^${template.replace(/[.*+?^$()|[\]\\]/g, '\\$&').replace(/\\?\{[^}]+\\?\}/g, '[^/]+')}$`).test(decoded));
  return { ...(path !== undefined ? { path } : {}), decoded };
}

const guardedPath = (p: string): boolean => /^\/(v1|debug)(\/|$)/.test(p);

export interface OracleContext {
  readonly doc: OpenApiDocument;
  readonly check: (schema: unknown, body: unknown) => string | undefined;
  readonly codes: ReadonlySet<string>;
  /** The app under test requires the admin token. */
  readonly tokenRequired: boolean;
}

/** Every rule `answer` breaks (empty when it is a good answer to `req`). */
export function violations(ctx: OracleContext, req: FuzzRequest, answer: RawAnswer): string[] {
  const out: string[] = [];
  if (answer.error) return [answer.error];
  const { status } = answer;
  const head = req.method === 'HEAD';
  const { path, decoded } = routedPath(req.target, Object.keys(ctx.doc.paths));
  const served = path !== undefined && (req.method === 'GET' || head) ? (ctx.doc.paths[path]?.get as { responses: Responses } | undefined) : undefined;
  const documented = served?.responses[String(status)];
  // A 503 is a route's own answer before the first map; any other 5xx is a failure.
  if (status >= 500 && !(status === 503 && documented)) out.push(`a ${status}: the server failed`);
  if (status < 400 && !served) out.push(`${status} for a request no documented route serves (routed as ${decoded ?? 'nothing'})`);
  if (status >= 400 && !(status in CODE_OF_STATUS) && !documented) out.push(`${status} is not a status docs/api.md lists`);
  if (served && status < 400 && !documented) out.push(`${path} does not document ${status}`);
  const type = (answer.headers['content-type'] ?? '').split(';')[0]!.trim();
  if (!head && status !== 304) {
    const content = documented?.content ?? (status >= 400 ? { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } : undefined);
    if (content && !content[type]) out.push(`content-type ${type || 'none'}, documented: ${Object.keys(content).join(', ')}`);
    else if (content && type === 'application/json') {
      let body: unknown;
      try {
        body = JSON.parse(answer.body);
      } catch {
        out.push(`body is not JSON: ${answer.body.slice(0, 120)}`);
      }
      if (body !== undefined) {
        const bad = ctx.check(content[type]!.schema, body);
        if (bad) out.push(`body does not match the document: ${bad.slice(0, 300)}`);
        const error = (body as { error?: { code?: string; message?: string } }).error;
        const code = error?.code;
        if (status >= 400 && error && !error.message) out.push('an error without a message');
        if (status >= 400 && code !== undefined) {
          if (!ctx.codes.has(code)) out.push(`code ${code} is not in docs/errors.md`);
          const expected = CODE_OF_STATUS[status];
          if (expected && code !== expected) out.push(`${status} with code ${code}, docs/api.md says ${expected}`);
        }
      }
    }
  }
  if (status === 304 && answer.body !== '') out.push('a 304 with a body');
  if (ctx.tokenRequired && !req.authorized) {
    if (status < 400 && path !== undefined && guardedPath(path)) out.push(`${status} from ${path} without the admin token`);
    // Refusals before any route may come first (docs/api.md): not HTTP, no Host, limits.
    const early = (status === 400 && (head || /^(not a valid HTTP|an HTTP\/1\.1 request must carry a Host)/.test(errorMessage(answer.body)))) || status === 408 || status === 431;
    if (decoded !== undefined && guardedPath(decoded) && status !== 401 && !early) out.push(`${status}, not 401, for ${decoded} without the admin token`);
  }
  if (ctx.tokenRequired && req.authorized && served && guardedPath(path!) && status === 401) out.push('401 with the right token');
  return out;
}

function errorMessage(body: string): string {
  try {
    return (JSON.parse(body) as { error?: { message?: string } }).error?.message ?? '';
  } catch {
    return '';
  }
}
