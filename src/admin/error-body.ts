/**
 * The JSON error body of the REST API (public contract, README "REST API"): every 4xx/5xx answers
 * `{error: {code, message, parameter?}}`, `parameter` naming the bad query or path parameter.
 */
import type { FastifyError, FastifyInstance } from 'fastify';
import type { KeywayErrorCode } from '../core/errors.js';

export interface ErrorBody {
  readonly error: { readonly code: KeywayErrorCode; readonly message: string; readonly parameter?: string };
}

/** Builds an error body; routes registered by other stages should answer errors with it too. */
export function errorBody(code: KeywayErrorCode, message: string, parameter?: string): ErrorBody {
  return { error: { code, message, ...(parameter !== undefined ? { parameter } : {}) } };
}

/**
 * Installs handlers so schema failures (400), unknown routes (404) and unexpected failures (500)
 * all answer with {@link ErrorBody}.
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
    const status = err.statusCode && err.statusCode >= 400 ? err.statusCode : 500;
    if (status >= 500) request.log.error({ err }, 'admin request failed');
    return reply.code(status).send(errorBody(status === 404 ? 'NOT_FOUND' : 'BAD_ARGUMENT', err.message));
  });
  app.setNotFoundHandler((request, reply) =>
    reply.code(404).send(errorBody('NOT_FOUND', `no route ${request.method} ${request.url.split('?')[0]}`)),
  );
}
