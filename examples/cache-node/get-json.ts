/**
 * GET a JSON body over plain HTTP, for the node's calls to keyway's REST API and to its peers'
 * `/v1/warm`. Each call has its own connection (no pooled socket outlives the node) and a bound.
 */
import http from 'node:http';

/**
 * @throws Error naming the URL when the answer is not 200, not JSON, later than `timeoutMs`, or
 *   `signal` aborts
 */
export function getJson(url: string, timeoutMs: number, signal?: AbortSignal): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { agent: false, timeout: timeoutMs, headers: { accept: 'application/json' }, ...(signal ? { signal } : {}) }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', reject);
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        if (res.statusCode !== 200) return reject(new Error(`GET ${url}: HTTP ${res.statusCode}: ${text.slice(0, 200)}`));
        try {
          resolve(JSON.parse(text));
        } catch {
          reject(new Error(`GET ${url}: the body is not JSON`));
        }
      });
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${url}: no answer within ${timeoutMs} ms`)));
    req.on('error', reject);
  });
}
