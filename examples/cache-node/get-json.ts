/**
 * GET a JSON body over plain HTTP, for the node's calls to keyway's REST API and to its peers'
 * `/v1/warm`. Each call has its own connection (no pooled socket outlives the node) and a bound.
 */
import http from 'node:http';

/**
 * Largest body read, bytes, unless the caller says otherwise: keyway's `/v1/shardmap` at the
 * largest S is tens of MB; past this an endless or hostile answer fails instead of filling memory.
 */
export const DEFAULT_MAX_BODY_BYTES = 256 * 1024 * 1024;

/** A conditional GET's answer: the body and its ETag, or "not modified" (HTTP 304). */
export type ConditionalAnswer = { readonly notModified: true } | { readonly notModified: false; readonly body: unknown; readonly etag?: string };

/**
 * GET `url` with `If-None-Match: etag` when an ETag is given (RFC 9110 §13.1.2): keyway answers
 * `GET /v1/shardmap` with 304 and no body while the map is the one the node already has.
 * @throws Error naming the URL when the answer is not 200 or 304, not JSON, larger than
 *   `maxBytes`, later than `timeoutMs`, or `signal` aborts
 */
export function getJsonIfChanged(url: string, timeoutMs: number, etag?: string, signal?: AbortSignal, maxBytes = DEFAULT_MAX_BODY_BYTES): Promise<ConditionalAnswer> {
  const headers: Record<string, string> = { accept: 'application/json', ...(etag !== undefined ? { 'if-none-match': etag } : {}) };
  return new Promise<ConditionalAnswer>((resolveAnswer, rejectAnswer) => {
    // Called only from the request's events, after `deadline` is set below.
    function resolve(answer: ConditionalAnswer): void {
      clearTimeout(deadline);
      resolveAnswer(answer);
    }
    function reject(err: Error): void {
      clearTimeout(deadline);
      rejectAnswer(err);
    }
    const req = http.get(url, { agent: false, timeout: timeoutMs, headers, ...(signal ? { signal } : {}) }, (res) => {
      const chunks: Buffer[] = [];
      let bytes = 0;
      res.on('data', (c: Buffer) => {
        bytes += c.length;
        if (bytes > maxBytes) req.destroy(new Error(`GET ${url}: the answer passes ${maxBytes} bytes`));
        else chunks.push(c);
      });
      res.on('error', reject);
      res.on('end', () => {
        if (res.statusCode === 304 && etag !== undefined) return resolve({ notModified: true });
        const text = Buffer.concat(chunks).toString('utf8');
        if (res.statusCode !== 200) return reject(new Error(`GET ${url}: HTTP ${res.statusCode}: ${text.slice(0, 200)}`));
        let body: unknown;
        try {
          body = JSON.parse(text);
        } catch {
          return reject(new Error(`GET ${url}: the body is not JSON`));
        }
        const tag = res.headers.etag;
        resolve({ notModified: false, body, ...(tag !== undefined ? { etag: tag } : {}) });
      });
    });
    // A bound on the whole exchange: the socket's `timeout` restarts with every byte, so a keyway
    // or peer that answers a few bytes at a time held a poll (and every drain wait on it) forever.
    const deadline = setTimeout(() => req.destroy(new Error(`GET ${url}: no answer within ${timeoutMs} ms`)), timeoutMs);
    req.on('timeout', () => req.destroy(new Error(`GET ${url}: no answer within ${timeoutMs} ms`)));
    req.on('error', reject);
  });
}

/**
 * @throws Error naming the URL when the answer is not 200, not JSON, larger than `maxBytes`, later
 *   than `timeoutMs`, or `signal` aborts
 */
export async function getJson(url: string, timeoutMs: number, signal?: AbortSignal, maxBytes?: number): Promise<unknown> {
  const answer = await getJsonIfChanged(url, timeoutMs, undefined, signal, maxBytes);
  return answer.notModified ? undefined : answer.body;
}
