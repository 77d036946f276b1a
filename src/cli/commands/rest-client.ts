/**
 * A small client of keyway's REST API (docs/api.md) for the CLI: JSON GETs with a timeout, and
 * every failure turned into a {@link CliError} that says what to do about it.
 *
 * It speaks node:http(s), not fetch: fetch refuses the WHATWG "bad ports" (6000, 10080, 6665-6669,
 * ...) before connecting, and a keyway may well listen on one of them.
 */
import http from 'node:http';
import https from 'node:https';
import { type BodyShape, shapeProblem } from './body-shape.js';
import { CliError } from './options.js';

export const REQUEST_TIMEOUT_MS = 10_000;

/** Most characters of a request's path and query an error message quotes (a lookup key may be 100 KB). */
export const MAX_QUOTED_URL = 200;

/**
 * Largest answer read, in bytes (256 MiB): far above keyway's largest bodies (a shard map at the
 * work budget's 131072 owner slots is tens of MB), and below the string V8 can hold (about 512 MiB):
 * past that a body that never ends crashed the CLI with a stack trace.
 */
export const MAX_BODY_BYTES = 256 * 1024 * 1024;

export interface ApiResponse<T> {
  readonly status: number;
  readonly body: T;
}

/** `{error: {code, message, parameter?}}`, the REST API's error body. */
interface ErrorBody {
  readonly error?: { readonly code?: unknown; readonly message?: unknown; readonly parameter?: unknown };
}

/** The CLI's way into a running keyway (docs/api.md); GET only, since the admin API never writes state. */
export class RestClient {
  constructor(
    readonly server: URL,
    private readonly timeoutMs = REQUEST_TIMEOUT_MS,
    /** Sent as `Authorization: Bearer` (a keyway with `--admin-token-file` requires it on /v1). */
    private readonly token?: string,
    /** Most bytes of a body read; a longer answer is refused (tests lower it). */
    private readonly maxBodyBytes = MAX_BODY_BYTES,
  ) {}

  /** The absolute URL of `route` (e.g. `v1/shardmap?x=1`) under the server's base path. */
  url(route: string): URL {
    return new URL(route.replace(/^\//, ''), this.server);
  }

  /**
   * GETs `route` and parses its JSON body. Statuses in `accept` (default: 200) resolve once the body
   * has the `expected` shape (a 404 is not checked: it carries an error body); any other status
   * becomes a CliError (exit 1) quoting the API's error body.
   * @throws CliError when the server is unreachable, too slow, or answers with something else
   */
  async get<T>(route: string, expected: BodyShape, accept: readonly number[] = [200]): Promise<ApiResponse<T>> {
    const url = this.url(route);
    const headers: Record<string, string> = { accept: 'application/json' };
    if (this.token !== undefined) headers.authorization = `Bearer ${this.token}`;
    let res: RawResponse;
    try {
      res = await request(url, headers, this.timeoutMs, this.maxBodyBytes);
    } catch (err) {
      if (err instanceof BodyTooLarge) {
        throw new CliError(`GET ${quoted(url, true)} answered ${err.status} with a body larger than ${byteSize(err.limit)} (read no further): is ${this.server.href} a keyway REST API?`, 1);
      }
      throw this.unreachable(err);
    }
    // Redirects are not followed: the Authorization header must not go wherever a Location points.
    if (res.status >= 300 && res.status < 400 && res.location !== undefined) {
      throw new CliError(`GET ${quoted(url, true)} was redirected (${res.status}) to ${res.location.slice(0, MAX_QUOTED_URL)}: point --server or KEYWAY_SERVER there`, 1);
    }
    let body: unknown;
    try {
      body = JSON.parse(res.text);
    } catch {
      throw new CliError(`GET ${quoted(url, true)} answered ${res.status} with a body that is not JSON: is ${this.server.href} a keyway REST API?`, 1);
    }
    if (!accept.includes(res.status)) throw this.failed(url, res.status, body, res.text);
    const problem = res.status === 404 ? undefined : shapeProblem(body, expected);
    if (problem !== undefined) {
      throw new CliError(
        `GET ${quoted(url, true)} answered ${res.status} with JSON that is not ${expected.what} (${problem}): is ${this.server.href} a keyway REST API?`,
        1,
      );
    }
    return { status: res.status, body: body as T };
  }

  /** The error for a status outside `accept`, quoting the API's error body. */
  private failed(url: URL, status: number, body: unknown, text: string): CliError {
    const e = (body as ErrorBody | null)?.error;
    const detail = e && typeof e.message === 'string' ? `${typeof e.code === 'string' ? `${e.code}: ` : ''}${e.message}` : text.slice(0, 200);
    if (status === 401) {
      const what = this.token === undefined ? 'it requires the admin token: pass --token or set KEYWAY_TOKEN' : 'the token given by --token or KEYWAY_TOKEN was refused';
      return new CliError(`GET ${url.pathname} failed with 401 (${detail}): ${what}`, 1);
    }
    return new CliError(`GET ${quoted(url, false)} failed with ${status}: ${detail}`, 1);
  }

  private unreachable(err: unknown): CliError {
    const e = err as NodeJS.ErrnoException;
    if (e.name === 'TimeoutError') {
      return new CliError(`keyway at ${this.server.href} did not answer within ${this.timeoutMs / 1000} s`, 1);
    }
    return new CliError(
      `cannot reach keyway at ${this.server.href} (${e.code ?? e.message}): is \`keyway serve\` running there? Point --server or KEYWAY_SERVER at its REST port`,
      1,
    );
  }
}

/** The URL (or its path and query) for a message, cut to MAX_QUOTED_URL characters of path and query. */
function quoted(url: URL, whole: boolean): string {
  const route = `${url.pathname}${url.search}`;
  const cut = route.length > MAX_QUOTED_URL ? `${route.slice(0, MAX_QUOTED_URL)}... (${route.length} characters)` : route;
  return whole ? `${url.origin}${cut}` : cut;
}

interface RawResponse {
  readonly status: number;
  readonly text: string;
  readonly location?: string;
}

/** `256 MiB` for whole mebibytes, else `N bytes`. */
function byteSize(n: number): string {
  return n >= 1024 * 1024 && n % (1024 * 1024) === 0 ? `${n / (1024 * 1024)} MiB` : `${n} bytes`;
}

/** An answer whose body went past the byte limit: the request is dropped once it does. */
class BodyTooLarge extends Error {
  constructor(
    readonly status: number,
    readonly limit: number,
  ) {
    super(`body larger than ${limit} bytes`);
  }
}

/**
 * One GET: status, body text and any Location header. The timeout covers connecting, the headers and the whole body.
 * @throws Error with the system's code (ECONNREFUSED, ...), named TimeoutError, or BodyTooLarge past `maxBodyBytes`
 */
function request(url: URL, headers: Record<string, string>, timeoutMs: number, maxBodyBytes: number): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    let timedOut = false;
    const fail = (err: Error): void => {
      clearTimeout(timer);
      reject(timedOut ? Object.assign(new Error(`no answer within ${timeoutMs} ms`), { name: 'TimeoutError' }) : err);
    };
    const req = (url.protocol === 'https:' ? https : http).get(url, { headers }, (res) => {
      // Bytes, decoded once at the end: counting them bounds memory whatever the encoding.
      const chunks: Buffer[] = [];
      let bytes = 0;
      res.on('data', (chunk: Buffer) => {
        bytes += chunk.length;
        if (bytes > maxBodyBytes) {
          req.destroy();
          fail(new BodyTooLarge(res.statusCode ?? 0, maxBodyBytes));
          return;
        }
        chunks.push(chunk);
      });
      res.on('error', fail);
      res.on('end', () => {
        clearTimeout(timer);
        const location = res.headers.location;
        resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks, bytes).toString('utf8'), ...(location !== undefined ? { location } : {}) });
      });
    });
    req.on('error', fail);
    const timer = setTimeout(() => {
      timedOut = true;
      req.destroy();
      // Destroying a request whose answer has begun may emit nothing more: settle here too.
      fail(new Error('timeout'));
    }, timeoutMs);
  });
}
