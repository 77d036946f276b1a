/**
 * A small client of keyway's REST API (docs/api.md) for the CLI: JSON GETs with a timeout, and
 * every failure turned into a {@link CliError} that says what to do about it.
 */
import { CliError } from './options.js';

export const REQUEST_TIMEOUT_MS = 10_000;

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
  ) {}

  /** The absolute URL of `route` (e.g. `v1/shardmap?x=1`) under the server's base path. */
  url(route: string): URL {
    return new URL(route.replace(/^\//, ''), this.server);
  }

  /**
   * GETs `route` and parses its JSON body. Statuses in `accept` (default: 200) resolve; any other
   * status becomes a CliError (exit 1) quoting the API's error body.
   * @throws CliError when the server is unreachable, too slow, or answers with something else
   */
  async get<T>(route: string, accept: readonly number[] = [200]): Promise<ApiResponse<T>> {
    const url = this.url(route);
    let res: Response;
    try {
      const headers: Record<string, string> = { accept: 'application/json' };
      if (this.token !== undefined) headers.authorization = `Bearer ${this.token}`;
      res = await fetch(url, { headers, signal: AbortSignal.timeout(this.timeoutMs) });
    } catch (err) {
      throw unreachable(this.server, err);
    }
    const text = await res.text().catch((err: unknown) => {
      throw unreachable(this.server, err);
    });
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      throw new CliError(
        `GET ${url.href} answered ${res.status} with a body that is not JSON: is ${this.server.href} a keyway REST API?`,
        1,
      );
    }
    if (!accept.includes(res.status)) {
      const e = (body as ErrorBody | null)?.error;
      const detail = e && typeof e.message === 'string' ? `${typeof e.code === 'string' ? `${e.code}: ` : ''}${e.message}` : text.slice(0, 200);
      if (res.status === 401) {
        const what = this.token === undefined ? 'it requires the admin token: pass --token or set KEYWAY_TOKEN' : 'the token given by --token or KEYWAY_TOKEN was refused';
        throw new CliError(`GET ${url.pathname} failed with 401 (${detail}): ${what}`, 1);
      }
      throw new CliError(`GET ${url.pathname}${url.search} failed with ${res.status}: ${detail}`, 1);
    }
    return { status: res.status, body: body as T };
  }
}

function unreachable(server: URL, err: unknown): CliError {
  const e = err as Error & { cause?: { code?: string; message?: string } };
  if (e.name === 'TimeoutError' || e.name === 'AbortError') {
    return new CliError(`keyway at ${server.href} did not answer within ${REQUEST_TIMEOUT_MS / 1000} s`, 1);
  }
  const reason = e.cause?.code ?? e.cause?.message ?? e.message;
  return new CliError(
    `cannot reach keyway at ${server.href} (${reason}): is \`keyway serve\` running there? Point --server or KEYWAY_SERVER at its REST port`,
    1,
  );
}
