/**
 * The HTTP library of keyway's list requests (the generated API client's `httpApi`): the
 * library's own (node-fetch, as IsomorphicFetchHttpLibrary sends) with a bound on the answer's
 * size. Unbounded, a list answer is read whole into memory before it is parsed: an API server or a
 * proxy in between that sends an endless body grew keyway's memory for as long as the page's
 * listTimeoutMs (30 s) allowed, gigabytes on a fast link.
 */
import { type HttpLibrary, Observable, type RequestContext, ResponseContext } from '@kubernetes/client-node';
import { clientFetch, isMaxSizeError } from './client-fetch.js';

/**
 * Largest list answer read (bytes): a page of 500 objects (`listPageSize`) of the largest pods
 * keyway meets (annotations at the API server's 256 KiB limit) is about 130 MiB of JSON.
 */
export const MAX_LIST_RESPONSE_BYTES = 256 * 1024 * 1024;

/** Sends each request as the client library does; an answer past `maxBytes` fails and is aborted. */
export class BoundedHttpLibrary implements HttpLibrary {
  constructor(private readonly maxBytes: number) {}

  send(request: RequestContext): Observable<ResponseContext> {
    // Our own controller, so an answer cut at the bound stops streaming (node-fetch only stops reading).
    const controller = new AbortController();
    const outer = request.getSignal();
    const onAbort = (): void => controller.abort(outer?.reason);
    if (outer?.aborted) onAbort();
    else outer?.addEventListener('abort', onAbort, { once: true });
    const url = request.getUrl();
    const answer = clientFetch(url, {
      method: request.getHttpMethod().toString(),
      body: request.getBody(),
      headers: request.getHeaders(),
      signal: controller.signal,
      agent: request.getAgent(),
      size: this.maxBytes,
    }).then(
      (resp) => {
        const headers: Record<string, string> = {};
        resp.headers.forEach((value, name) => (headers[name] = value));
        const bounded = <T>(read: () => Promise<T>) => (): Promise<T> =>
          read()
            .catch((err: unknown) => {
              if (!isMaxSizeError(err)) throw err;
              controller.abort();
              throw new Error(`list answer larger than ${this.maxBytes} bytes from ${new URL(url).pathname} (a broken API server or proxy in between?)`);
            })
            .finally(() => outer?.removeEventListener('abort', onAbort));
        return new ResponseContext(resp.status, headers, { text: bounded(() => resp.text()), binary: bounded(() => resp.buffer()) });
      },
      (err: unknown) => {
        outer?.removeEventListener('abort', onAbort);
        throw err;
      },
    );
    return new Observable(answer);
  }
}
