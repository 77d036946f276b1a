/**
 * The JSON error body of the REST API (public contract: docs/api.md "Errors"): every 4xx/5xx
 * answers `{error: {code, message, parameter?}}`, `parameter` naming the bad query or path
 * parameter. That holds for errors no route sees too: a request Node's HTTP parser refuses (431,
 * malformed), a URL fastify's router cannot decode (404) or a parameter past its length (414).
 */
import { type ServerOptions, STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest, FastifyServerOptions } from 'fastify';
import type { KeywayErrorCode } from '../core/errors.js';
import { MAX_REST_BODY_BYTES, MAX_REST_HEADER_BYTES, MAX_REST_PARAM_LENGTH } from './request-limits.js';

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
 * Installs handlers so schema failures (400), unknown routes (404), fastify's own refusals (413,
 * 415 ...) and unexpected failures (500) all answer with {@link ErrorBody}.
 */
export function installErrorHandlers(app: FastifyInstance): void {
  app.setErrorHandler((err: FastifyError, request, reply) => {
    if (err.validation && err.validation.length > 0) {
      const first = err.validation[0]!;
      const missing = (first.params as { missingProperty?: string } | undefined)?.missingProperty;
      const parameter = missing ?? (first.instancePath.replace(/^\//, '') || err.validationContext || 'request');
      const where = err.validationContext === 'params' ? 'path parameter' : 'query parameter';
      const message = missing ? `${where} "${parameter}" is required` : `${where} "${parameter}" ${first.message ?? 'is invalid'}`;
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
  app.setNotFoundHandler((request, reply) =>
    reply.code(404).send(errorBody('NOT_FOUND', `no route ${request.method} ${pathOf(request.url)}`)),
  );
}

/**
 * The fastify options that route the errors raised before any handler to the error body
 * (docs/api.md "Errors") and set the request limits (docs/security.md "REST requests"): the
 * router's (a URL that does not decode, a parameter too long) and the HTTP parser's (headers too
 * large, a request that is not HTTP, a timeout), with keyway's request limits.
 */
export function errorBodyServerOptions(): Pick<FastifyServerOptions, 'frameworkErrors' | 'clientErrorHandler' | 'bodyLimit' | 'routerOptions'> & {
  http: ServerOptions;
} {
  return {
    bodyLimit: MAX_REST_BODY_BYTES,
    http: { maxHeaderSize: MAX_REST_HEADER_BYTES },
    routerOptions: { maxParamLength: MAX_REST_PARAM_LENGTH },
    frameworkErrors: routerError,
    clientErrorHandler: parserError,
  };
}

/** The router's errors: an undecodable URL names nothing (404); a parameter past the limit is 414. */
function routerError(err: FastifyError, request: FastifyRequest, reply: FastifyReply): void {
  const path = pathOf(request.raw.url ?? '');
  if (err.code === 'FST_ERR_MAX_PARAM_LENGTH') {
    void reply.code(414).send(errorBody('LIMIT_EXCEEDED', `a path parameter of ${path.slice(0, 80)}... is longer than ${MAX_REST_PARAM_LENGTH} characters (the REST API's limit, docs/security.md)`));
    return;
  }
  if (err.code === 'FST_ERR_BAD_URL') {
    void reply.code(404).send(errorBody('NOT_FOUND', `no route ${request.method} ${path.slice(0, 200)}: the path is not valid percent-encoding`));
    return;
  }
  void reply.code(400).send(errorBody('BAD_ARGUMENT', err.message));
}

/**
 * Node's HTTP parser refused the request before fastify saw it ('clientError' on the server).
 * Answers on the raw socket with the error body, then closes it, as Node's own handler does.
 */
function parserError(this: FastifyInstance, err: NodeJS.ErrnoException & { bytesParsed?: number }, socket: Socket): void {
  if (err.code === 'ECONNRESET' || socket.destroyed) return;
  let status: number;
  let body: ErrorBody;
  if (err.code === 'HPE_HEADER_OVERFLOW') {
    status = 431;
    body = errorBody('LIMIT_EXCEEDED', `the request line and headers exceed ${MAX_REST_HEADER_BYTES} bytes (the REST API's header limit, docs/security.md)`);
  } else if (err.code === 'ERR_HTTP_REQUEST_TIMEOUT') {
    status = 408;
    body = errorBody('LIMIT_EXCEEDED', 'the request was not received in time');
  } else {
    status = 400;
    body = errorBody('BAD_ARGUMENT', `not a valid HTTP/1.1 request (${err.code ?? err.message})`);
  }
  this.log.debug({ err, status }, 'admin request refused by the HTTP parser');
  if (socket.writable) {
    const text = JSON.stringify(body);
    socket.write(
      `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Type: application/json; charset=utf-8\r\n` +
        `Content-Length: ${Buffer.byteLength(text)}\r\nConnection: close\r\n\r\n${text}`,
    );
  }
  socket.destroy(err);
}

function pathOf(url: string): string {
  return url.split('?')[0] ?? url;
}
