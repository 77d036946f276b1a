/**
 * Plain HTTP/1.1 requests for the e2e tier (admin pages, traffic through Envoy, keyway's REST API).
 * Each request uses its own connection (`agent: false`), so no pooled socket outlives a stopped
 * process or keeps the test process alive, and every request has a time bound; a test that needs
 * kept-alive connections (what applications hold to Envoy) passes its own agent and destroys it.
 */
import http from 'node:http';

export interface HttpResponse {
  readonly status: number;
  readonly headers: http.IncomingHttpHeaders;
  readonly body: string;
}

export interface HttpRequestOptions {
  readonly method?: string;
  /** A list sends the header once per value. */
  readonly headers?: Readonly<Record<string, string | readonly string[]>>;
  readonly body?: string;
  /** Bound for the whole exchange (default 5 s). */
  readonly timeoutMs?: number;
  /** Connections kept alive by this agent (default: one connection per request). */
  readonly agent?: http.Agent;
}

/** Sends one request and reads the whole answer. Rejects on a connection error or the time bound. */
export function httpRequest(url: string, opts: HttpRequestOptions = {}): Promise<HttpResponse> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      url,
      { method: opts.method ?? 'GET', headers: { ...opts.headers } as http.OutgoingHttpHeaders, agent: opts.agent ?? false, timeout: opts.timeoutMs ?? 5_000 },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`${opts.method ?? 'GET'} ${url}: no answer within ${opts.timeoutMs ?? 5_000} ms`)));
    req.on('error', reject);
    req.end(opts.body);
  });
}

/** GET `url` and return the body; any status but 2xx is an error carrying the body. */
export async function httpGetText(url: string, timeoutMs = 5_000): Promise<string> {
  const res = await httpRequest(url, { timeoutMs });
  if (res.status < 200 || res.status >= 300) throw new Error(`GET ${url}: HTTP ${res.status}: ${res.body.slice(0, 300)}`);
  return res.body;
}
