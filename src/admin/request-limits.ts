/**
 * The size limits of one REST request (public contract: docs/security.md "REST requests"). A
 * request past one is refused with the error body (src/admin/error-body.ts): 431, 413 or 414, code
 * LIMIT_EXCEEDED. Values are Node's and fastify's defaults, stated here so they are documented
 * and cannot change under keyway with a dependency update.
 */

/** Request line plus headers, in bytes (Node's `http.maxHeaderSize`); beyond it: 431. */
export const MAX_REST_HEADER_BYTES = 16 * 1024;
/** A request body, in bytes (fastify's `bodyLimit`; keyway's own routes take none); beyond it: 413. */
export const MAX_REST_BODY_BYTES = 1024 * 1024;
/** One path parameter such as `/v1/shards/{shard}`, in characters (fastify's `maxParamLength`); beyond it: 414. */
export const MAX_REST_PARAM_LENGTH = 100;
