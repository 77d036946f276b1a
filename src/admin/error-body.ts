/**
 * The JSON error body of the REST API (public contract: docs/api.md "Errors"): every 4xx/5xx
 * answers `{error: {code, message, parameter?}}`, `parameter` naming the bad query or path
 * parameter. That holds for errors no route sees too: a request Node's HTTP parser refuses (431,
 * malformed, 408 not received in time), one without Host (400), a URL fastify's router cannot
 * decode (404) or a parameter past its length (414).
 */
import { type ServerOptions, STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import { type Readable, Transform } from 'node:stream';
import { errorCodes } from 'fastify';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest, FastifyServerOptions } from 'fastify';
import type { KeywayErrorCode } from '../core/errors.js';
import {
  MAX_REST_BODY_BYTES,
  MAX_REST_HEADER_BYTES,
  MAX_REST_PARAM_LENGTH,
  REST_REQUEST_TIMEOUT_MS,
  requestTimeoutCheckMs,
} from './request-limits.js';

export interface ErrorBody {
  readonly error: { readonly code: KeywayErrorCode; readonly message: string; readonly parameter?: string };
}

/** Builds an error body; routes registered by other stages should answer errors with it too. */
export function errorBody(code: KeywayErrorCode, message: string, parameter?: string): ErrorBody {
  return { error: { code, message, ...(parameter !== undefined ? { parameter } : {}) } };
}

/**
 * The code of an error status that no route chose (docs/api.md "Errors"): the size limits are
 * LIMIT_EXCEEDED, a missing or wrong token UNAUTHENTICATED, anything unknown NOT_FOUND, a server
 * failure INTERNAL; the remaining 4xx are a malformed request (BAD_ARGUMENT).
 */
export function errorCodeForStatus(status: number): KeywayErrorCode {
  if (status >= 500) return 'INTERNAL';
  if (status === 401 || status === 403) return 'UNAUTHENTICATED';
  if (status === 404 || status === 405) return 'NOT_FOUND';
  if (status === 408 || status === 413 || status === 414 || status === 431) return 'LIMIT_EXCEEDED';
  return 'BAD_ARGUMENT';
}

/**
 * A check that runs before any handler, and before the router's own refusals (an undecodable URL, a
 * parameter too long), so those refusals cannot skip it. It answers and returns true to stop the
 * request; `route` is the URL pattern fastify matched, undefined when none did.
 */
export type RequestGuard = (request: FastifyRequest, reply: FastifyReply, route: string | undefined) => boolean;

export interface ErrorBodyOptions {
  /** Checks after keyway's own (the Host header), in order: the bearer token (auth.ts). */
  readonly guards?: readonly RequestGuard[];
  /** Time to receive a whole request; default REST_REQUEST_TIMEOUT_MS (tests shorten it). */
  readonly requestTimeoutMs?: number;
  /**
   * Sets the headers every answer carries (app.ts): run as each answer is sent, the router's
   * refusals included, which skip fastify's onSend hooks.
   */
  readonly answerHeaders?: AnswerHeaders;
}

/** Sets headers on an answer about to be sent; `route` is the URL pattern fastify matched, undefined when none did. */
export type AnswerHeaders = (request: FastifyRequest, reply: FastifyReply, route: string | undefined) => void;

/** The server options and handlers that give every refusal the error body, sharing one set of guards. */
export interface ErrorBodies {
  readonly serverOptions: ErrorBodyServerOptions;
  /** Installs the handlers and the guards on the app built with `serverOptions`, before any route. */
  install(app: FastifyInstance): void;
}

export type ErrorBodyServerOptions = Pick<
  FastifyServerOptions,
  'frameworkErrors' | 'clientErrorHandler' | 'bodyLimit' | 'routerOptions' | 'requestTimeout'
> & { http: ServerOptions };

/**
 * The fastify options and handlers that route every error to the error body (docs/api.md "Errors")
 * and set the request limits (docs/security.md "REST requests"): the router's errors (a URL that
 * does not decode, a parameter too long), the HTTP parser's (headers too large, a request that is
 * not HTTP, a timeout), a missing Host header, and the handlers' own.
 */
export function errorBodies(opts: ErrorBodyOptions = {}): ErrorBodies {
  // The query check comes last: a caller without the token learns nothing from it.
  const guards = [requireHost, requireTarget, ...(opts.guards ?? []), requireDecodableQuery];
  const paramRoutes: ParamRoute[] = [];
  const timeoutMs = opts.requestTimeoutMs ?? REST_REQUEST_TIMEOUT_MS;
  return {
    serverOptions: {
      bodyLimit: MAX_REST_BODY_BYTES,
      requestTimeout: timeoutMs,
      http: {
        maxHeaderSize: MAX_REST_HEADER_BYTES,
        requestTimeout: timeoutMs,
        headersTimeout: timeoutMs,
        connectionsCheckingInterval: requestTimeoutCheckMs(timeoutMs),
        // Node would answer a bare 400 with no body; requireHost below answers the error body.
        requireHostHeader: false,
      },
      routerOptions: { maxParamLength: MAX_REST_PARAM_LENGTH },
      frameworkErrors: (err, request, reply) => {
        opts.answerHeaders?.(request, reply, undefined);
        if (guards.some((guard) => guard(request, reply, undefined))) return;
        routerError(err, request, reply, paramRoutes);
      },
      clientErrorHandler: parserError(timeoutMs),
    },
    install(app) {
      installErrorHandlers(app);
      const answerHeaders = opts.answerHeaders;
      if (answerHeaders) app.addHook('onSend', async (request, reply) => answerHeaders(request, reply, request.routeOptions.url));
      app.addHook('preParsing', async (request, _reply, payload) => (request.is404 ? discardedBody(payload) : payload));
      app.addHook('onRoute', (route) => {
        const compiled = paramRoute(route.url);
        if (compiled) paramRoutes.push(compiled);
      });
      app.addHook('onRequest', async (request, reply) => {
        const route = request.routeOptions.url;
        if (guards.some((guard) => guard(request, reply, route))) return reply;
        return undefined;
      });
    },
  };
}

/**
 * The body of a request no route takes, read and counted but never parsed: the answer is 404 whatever
 * it holds, and parsing it cost the event loop (a 1 MiB JSON body of nested arrays took 100 to 170
 * ms, on paths open without the token, so a client sending them in a loop stalled xDS pushes and
 * probes). The body limit still holds (413), and the parser then sees an empty body (404 as before).
 */
function discardedBody(payload: Readable): Readable {
  let received = 0;
  const discard: Transform & { receivedEncodedLength?: number } = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      received += chunk.length;
      // fastify compares this, not the bytes it reads, with Content-Length.
      discard.receivedEncodedLength = received;
      done(received > MAX_REST_BODY_BYTES ? new errorCodes.FST_ERR_CTP_BODY_TOO_LARGE() : undefined);
    },
  });
  // fastify takes the error from its own listener, which it removes once called; without this one,
  // pipe() would raise the same error again as unhandled and end the process.
  discard.on('error', () => {});
  // pipe() does not pass on the request's own error (the client went away), which fastify waits for.
  payload.once('error', (err) => discard.destroy(err));
  return payload.pipe(discard);
}

/**
 * RFC 9112 makes a server refuse an HTTP/1.1 request without Host (400). Node would do so with an
 * empty body; this answers the error body. keyway itself never reads the header.
 */
function requireHost(request: FastifyRequest, reply: FastifyReply): boolean {
  if (request.raw.httpVersion !== '1.1' || request.raw.headers.host !== undefined) return false;
  void reply.code(400).header('connection', 'close').send(errorBody('BAD_ARGUMENT', 'an HTTP/1.1 request must carry a Host header'));
  return true;
}

/**
 * RFC 9112 §3.2: a request target is a path (origin-form), an absolute http(s) URL, or `*` for
 * OPTIONS. Node's parser lets others through (`*v1/shardmap`), which fastify's router reads from
 * their second character on (as `/v1/shardmap`); refused, so every check sees the path the router does.
 */
function requireTarget(request: FastifyRequest, reply: FastifyReply): boolean {
  const url = request.raw.url ?? '';
  if (url.startsWith('/') || /^https?:\/\/[^/?#]/i.test(url) || (url === '*' && request.method === 'OPTIONS')) return false;
  const target = JSON.stringify(url.slice(0, 200));
  void reply
    .code(400)
    .header('connection', 'close')
    .send(errorBody('BAD_ARGUMENT', `the request target ${target} is neither a path nor an absolute http(s) URL`));
  return true;
}

/**
 * A query parameter the route reads must be valid percent-encoding of UTF-8. The query parser keeps
 * a value it cannot decode as typed, escapes and all, so `/v1/lookup?key=caf%E9` (Latin-1) or
 * `?key=50%off%20now` answered for another key ("caf%E9", its %20 undecoded); refused instead,
 * naming the parameter. Parameters the route does not declare are not judged, as before.
 */
function requireDecodableQuery(request: FastifyRequest, reply: FastifyReply, route: string | undefined): boolean {
  const declared = (request.routeOptions.schema?.querystring as { properties?: Record<string, unknown> } | undefined)?.properties;
  const url = request.raw.url ?? '';
  const q = url.indexOf('?');
  if (route === undefined || declared === undefined || q < 0) return false;
  for (const pair of url.slice(q + 1).split('&')) {
    const eq = pair.indexOf('=');
    if (eq < 0 || !pair.includes('%', eq)) continue;
    const name = decodeQueryPart(pair.slice(0, eq));
    const raw = pair.slice(eq + 1);
    if (name === undefined || !Object.hasOwn(declared, name) || decodeQueryPart(raw) !== undefined) continue;
    const got = JSON.stringify(raw.slice(0, 40));
    void reply
      .code(400)
      .send(errorBody('BAD_ARGUMENT', `query parameter "${name}" is not valid percent-encoding of UTF-8 text, got ${got}: write "%" as %25`, name));
    return true;
  }
  return false;
}

/** A query name or value decoded as the parser does (`+` is a space), or undefined when it cannot be. */
function decodeQueryPart(raw: string): string | undefined {
  try {
    return decodeURIComponent(raw.replace(/\+/g, ' '));
  } catch {
    return undefined;
  }
}

/**
 * Installs handlers so schema failures (400), unknown routes (404), fastify's own refusals (413,
 * 415 ...) and unexpected failures (500) all answer with {@link ErrorBody}.
 */
function installErrorHandlers(app: FastifyInstance): void {
  app.setErrorHandler((err: FastifyError, request, reply) => {
    // A body sent to no route (keyway's routes are GETs and take none): fastify parses it before the
    // not-found handler and would answer a malformed one 400 or 415; there is no route (docs/api.md).
    if (request.is404 && err.code?.startsWith('FST_ERR_CTP_') && err.code !== 'FST_ERR_CTP_BODY_TOO_LARGE') {
      return reply.code(404).send(notFound(request));
    }
    if (err.validation && err.validation.length > 0) {
      const first = err.validation[0]!;
      const missing = (first.params as { missingProperty?: string } | undefined)?.missingProperty;
      const parameter = missing ?? (first.instancePath.replace(/^\//, '') || err.validationContext || 'request');
      const where = err.validationContext === 'params' ? 'path parameter' : 'query parameter';
      const message = missing
        ? `${where} "${parameter}" is required`
        : ((err.validationContext === 'querystring' ? repeatedParameter(request.query, parameter) : undefined) ?? `${where} "${parameter}" ${first.message ?? 'is invalid'}`);
      return reply.code(400).send(errorBody('BAD_ARGUMENT', message, parameter));
    }
    const status = err.statusCode && err.statusCode >= 400 && err.statusCode <= 599 ? err.statusCode : 500;
    if (status >= 500) request.log.error({ err }, 'admin request failed');
    const message =
      err.code === 'FST_ERR_CTP_BODY_TOO_LARGE'
        ? `the request body exceeds ${MAX_REST_BODY_BYTES} bytes (the REST API's body limit, docs/security.md)`
        : status >= 500
          ? `keyway failed to answer ${request.method} ${pathOf(request.url)}: ${err.message}`
          : err.message;
    return reply.code(status).send(errorBody(errorCodeForStatus(status), message));
  });
  app.setNotFoundHandler((request, reply) => reply.code(404).send(notFound(request)));
}

/**
 * The message for a query parameter given more than once (`?key=a&key=b` reads as an array, which
 * a route's schema then calls "must be string"); undefined when `name` is not repeated.
 */
export function repeatedParameter(query: unknown, name: string): string | undefined {
  const value = (query as Record<string, unknown> | undefined)?.[name];
  return Array.isArray(value) ? `query parameter "${name}" is given ${value.length} times; give it once` : undefined;
}

function notFound(request: FastifyRequest): ErrorBody {
  return errorBody('NOT_FOUND', `no route ${request.method} ${pathOf(request.url)}`);
}

/**
 * The router's errors: an undecodable URL names nothing (404); a parameter past the limit is 414,
 * naming the parameter, with the connection closed like every limit's refusal.
 */
function routerError(err: FastifyError, request: FastifyRequest, reply: FastifyReply, routes: readonly ParamRoute[]): void {
  const path = pathOf(request.raw.url ?? '');
  if (err.code === 'FST_ERR_MAX_PARAM_LENGTH') {
    const parameter = parameterTooLong(routes, path);
    const what = parameter !== undefined ? `path parameter "${parameter}"` : `a path parameter of ${path.slice(0, 80)}...`;
    void reply
      .code(414)
      .header('connection', 'close')
      .send(errorBody('LIMIT_EXCEEDED', `${what} is longer than ${MAX_REST_PARAM_LENGTH} characters (the REST API's limit, docs/security.md)`, parameter));
    return;
  }
  if (err.code === 'FST_ERR_BAD_URL') {
    void reply.code(404).send(errorBody('NOT_FOUND', `no route ${request.method} ${path.slice(0, 200)}: the path is not valid percent-encoding`));
    return;
  }
  void reply.code(400).send(errorBody('BAD_ARGUMENT', err.message));
}

/** A route with path parameters, as a pattern over the raw path and the parameters' names in order. */
interface ParamRoute {
  readonly pattern: RegExp;
  readonly names: readonly string[];
}

/** Compiles `/v1/shards/:shard` (fastify's syntax; a `(regex)` suffix is ignored); undefined without parameters. */
function paramRoute(url: string): ParamRoute | undefined {
  if (!url.includes(':')) return undefined;
  const names: string[] = [];
  const segments = url.split('/').map((segment) => {
    if (segment === '*') return '.*';
    if (!segment.startsWith(':')) return segment.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    names.push(segment.slice(1).replace(/\(.*$/, ''));
    return '([^/]*)';
  });
  return { pattern: new RegExp(`^${segments.join('/')}$`), names };
}

/** The name of the longest parameter of the first route `path` fits, when it is past the limit. */
function parameterTooLong(routes: readonly ParamRoute[], path: string): string | undefined {
  for (const route of routes) {
    const m = route.pattern.exec(path);
    if (!m) continue;
    let longest: string | undefined;
    let length = MAX_REST_PARAM_LENGTH;
    route.names.forEach((name, i) => {
      const value = m[i + 1] ?? '';
      if (value.length > length) [longest, length] = [name, value.length];
    });
    if (longest !== undefined) return longest;
  }
  return undefined;
}

type ParserErrorHandler = (this: FastifyInstance, err: NodeJS.ErrnoException, socket: Socket) => void;

/**
 * Node's HTTP parser refused the request, or it was not received within `timeoutMs` ('clientError'
 * on the server). Answers on the raw socket with the error body, then closes it, as Node's own
 * handler does (and like it, writes nothing once an answer has begun).
 */
function parserError(timeoutMs: number): ParserErrorHandler {
  return function (err, socket) {
    if (err.code === 'ECONNRESET' || socket.destroyed) return;
    const [status, body] = parserRefusal(err, timeoutMs);
    // The code and message only: Node's parser errors carry `rawPacket`, the bytes read so far,
    // which hold the request's Authorization header (the admin token) and up to the header limit
    // of whatever the client sent, logged as an array of numbers (16 KiB became 80 KB a line).
    this.log.debug({ err: { code: err.code, message: err.message }, status }, 'admin request refused by the HTTP parser');
    const answering = (socket as Socket & { _httpMessage?: { headersSent?: boolean } })._httpMessage?.headersSent === true;
    if (socket.writable && !answering) {
      const text = JSON.stringify(body);
      socket.write(
        `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Type: application/json; charset=utf-8\r\nX-Content-Type-Options: nosniff\r\n` +
          `Content-Length: ${Buffer.byteLength(text)}\r\nConnection: close\r\n\r\n${text}`,
      );
    }
    socket.destroy(err);
  };
}

/** The status and body of a refusal by Node's HTTP server. */
function parserRefusal(err: NodeJS.ErrnoException, timeoutMs: number): [number, ErrorBody] {
  if (err.code === 'HPE_HEADER_OVERFLOW') {
    return [431, errorBody('LIMIT_EXCEEDED', `the request line and headers exceed ${MAX_REST_HEADER_BYTES} bytes (the REST API's header limit, docs/security.md)`)];
  }
  if (err.code === 'ERR_HTTP_REQUEST_TIMEOUT') {
    return [408, errorBody('LIMIT_EXCEEDED', `the request was not received within ${timeoutMs} ms (the REST API's request timeout, docs/security.md)`)];
  }
  return [400, errorBody('BAD_ARGUMENT', `not a valid HTTP/1.1 request (${err.code ?? err.message})`)];
}

function pathOf(url: string): string {
  return url.split('?')[0] ?? url;
}
