/**
 * The limits of one REST request (public contract: docs/security.md "REST requests"). A request
 * past one is refused with the error body (src/admin/error-body.ts): 408, 431, 413 or 414, code
 * LIMIT_EXCEEDED. Values are stated here so they are documented and cannot change under keyway
 * with a dependency update.
 */

import { envLimit } from '../core/env-limit.js';

/** Request line plus headers, in bytes (Node's `http.maxHeaderSize`); beyond it: 431. */
export const MAX_REST_HEADER_BYTES = 16 * 1024;
/** A request body, in bytes (fastify's `bodyLimit`; keyway's own routes take none); beyond it: 413. */
export const MAX_REST_BODY_BYTES = 1024 * 1024;
/** One path parameter such as `/v1/shards/{shard}`, in characters (fastify's `maxParamLength`); beyond it: 414. */
export const MAX_REST_PARAM_LENGTH = 100;
/**
 * Time to receive one whole request, request line, headers and body, in ms; beyond it: 408. Also
 * the headers' own limit (Node's `headersTimeout`, 60 s by default, may not exceed it). fastify's
 * default `requestTimeout` of 0 turns Node's limit off, so a body sent a byte at a time held a
 * connection for ever.
 */
export const REST_REQUEST_TIMEOUT_MS = 30_000;

/**
 * How often Node looks for requests past their time (`connectionsCheckingInterval`, 30 s by
 * default, which would let a 30 s limit run to 60 s): a 408 comes at most this much late.
 */
export function requestTimeoutCheckMs(timeoutMs: number): number {
  return Math.max(10, Math.min(1_000, Math.floor(timeoutMs / 4)));
}

/**
 * How long a connection may hold answer bytes the client takes none of, in ms; beyond it the
 * connection is closed (write-stall.ts). `requestTimeout` covers receiving the request only, and
 * Node's idle `timeout` would cut a slow but steady download of a large body: it is reset only
 * when a whole write finishes, and keyway writes each body in one.
 */
export const REST_WRITE_STALL_MS = 60_000;
/** The variable `keyway serve` reads REST_WRITE_STALL_MS's override from. */
export const REST_WRITE_STALL_ENV = 'KEYWAY_ADMIN_WRITE_STALL_MS';

/**
 * How long a keep-alive connection may wait for its next request, in ms (Node's
 * `keepAliveTimeout`); then it is closed. fastify's default, stated so an update cannot change it.
 */
export const REST_KEEP_ALIVE_TIMEOUT_MS = 72_000;

/**
 * REST_WRITE_STALL_MS, or its override from `env` (a positive integer of ms, at most MAX_TIMER_MS,
 * as for KEYWAY_XDS_*): a malformed value is an error rather than silently the default, and one past
 * MAX_TIMER_MS would fire after 1 ms and cut every answer that had a byte pending.
 * @throws KeywayError BAD_ARGUMENT naming the variable (not CONFIG_INVALID: that would read as a bad
 * topology file)
 */
export function restWriteStallMsFromEnv(env: NodeJS.ProcessEnv): number {
  return envLimit(env, REST_WRITE_STALL_ENV, REST_WRITE_STALL_MS, { ms: true });
}
