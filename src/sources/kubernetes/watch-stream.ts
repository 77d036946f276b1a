/**
 * One Kubernetes watch request (the list/watch protocol: a GET with `watch=true` answered by one
 * JSON event per line), as @kubernetes/client-node's `Watch.watch` makes it, with one difference:
 * an event line is bounded. The library splits the stream with readline, which holds a line until
 * its newline comes: an API server or a proxy in between that sends bytes without a newline made
 * keyway's memory grow until the process died. Here a line past `maxLineBytes` ends the watch with
 * an error, which the informer retries with backoff like any failed watch.
 */
import { STATUS_CODES } from 'node:http';
import type { KubeConfig } from '@kubernetes/client-node';
import { clientFetch } from './client-fetch.js';

/**
 * Longest watch event line accepted (bytes): the largest object etcd stores is 1.5 MiB, and its
 * JSON, escaped, stays well below this.
 */
export const MAX_WATCH_LINE_BYTES = 16 * 1024 * 1024;

/** Thrown into `done` when a line passes the bound. */
export class WatchLineTooLong extends Error {
  constructor(readonly maxLineBytes: number) {
    super(`watch event line longer than ${maxLineBytes} bytes without a newline (a broken API server or proxy in between?); watching again`);
  }
}

/**
 * Opens a watch on `path` and calls `callback(type, object, event)` for each event line, `done`
 * once when the stream ends or fails (as `Watch.watch`: a line that does not parse is skipped, a
 * non-200 answer is an error carrying `statusCode`). Throws when the request cannot be built
 * (credentials that fail), as `Watch.watch` does. Returns the controller that aborts it.
 */
export async function boundedWatch(
  config: KubeConfig,
  path: string,
  queryParams: Record<string, string | number | boolean | undefined>,
  callback: (phase: string, apiObj: unknown, watchObj?: unknown) => void,
  done: (err: unknown) => void,
  maxLineBytes: number,
): Promise<AbortController> {
  const cluster = config.getCurrentCluster();
  if (!cluster) throw new Error('No currently active cluster');
  const url = new URL(cluster.server + path);
  url.searchParams.set('watch', 'true');
  for (const [key, val] of Object.entries(queryParams)) if (val !== undefined) url.searchParams.set(key, val.toString());
  const init = (await config.applyToFetchOptions({})) as Record<string, unknown>;
  const controller = new AbortController();
  init.signal = controller.signal;
  init.method = 'GET';
  let finished = false;
  const finish = (err: unknown): void => {
    if (finished) return;
    finished = true;
    controller.abort();
    done(err);
  };
  try {
    const response = await clientFetch(url, init);
    const agent = init.agent as { sockets?: Record<string, { setKeepAlive(on: boolean, ms: number): void }[] | undefined> } | undefined;
    // As the library does: TCP keepalive, so a dead peer is noticed by the kernel too.
    if (agent && typeof agent === 'object' && agent.sockets) for (const s of Object.values(agent.sockets).flat()) s?.setKeepAlive(true, 30_000);
    if (response.status !== 200) {
      const error = new Error(response.statusText || STATUS_CODES[response.status] || 'Internal Server Error') as Error & { statusCode: number };
      error.statusCode = response.status;
      throw error;
    }
    const body = response.body;
    const lines = new LineSplitter(maxLineBytes, (line) => {
      // As the library: a line that does not parse is skipped (and so is a callback's throw).
      try {
        const event = JSON.parse(line) as { type?: unknown; object?: unknown };
        callback(event.type as string, event.object, event);
      } catch {
        // skipped
      }
    });
    body.on('data', (chunk: Buffer) => {
      if (finished) return;
      if (!lines.push(chunk)) finish(new WatchLineTooLong(maxLineBytes));
    });
    body.on('error', finish);
    body.on('end', () => {
      lines.end();
      finish(null);
    });
    body.on('close', () => finish(null));
  } catch (err) {
    finish(err);
  }
  return controller;
}

/** Splits a byte stream on `\n`, holding at most `max` bytes of a line not yet ended. */
class LineSplitter {
  #parts: Buffer[] = [];
  #held = 0;

  constructor(
    private readonly max: number,
    private readonly onLine: (line: string) => void,
  ) {}

  /** Takes a chunk; false when a line passed the bound (the rest is then dropped). */
  push(chunk: Buffer): boolean {
    let from = 0;
    for (let nl = chunk.indexOf(10, from); nl !== -1; nl = chunk.indexOf(10, from)) {
      if (this.#held + nl - from > this.max) return false;
      this.#parts.push(chunk.subarray(from, nl));
      this.#emit();
      from = nl + 1;
    }
    const rest = chunk.length - from;
    if (this.#held + rest > this.max) return false;
    if (rest > 0) {
      this.#parts.push(chunk.subarray(from));
      this.#held += rest;
    }
    return true;
  }

  /** The stream ended: a last line without a newline is still a line (as readline has it). */
  end(): void {
    if (this.#held > 0) this.#emit();
  }

  #emit(): void {
    const line = (this.#parts.length === 1 ? this.#parts[0]! : Buffer.concat(this.#parts)).toString('utf8');
    this.#parts = [];
    this.#held = 0;
    if (line.trim() !== '') this.onLine(line);
  }
}
