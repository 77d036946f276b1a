/**
 * The limits of one REST request (public contract: docs/security.md "REST requests"). A request
 * past one is refused with the error body (src/admin/error-body.ts): 408, 431, 413 or 414, code
 * LIMIT_EXCEEDED. Values are stated here so they are documented and cannot change under keyway
 * with a dependency update.
 */

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
