/**
 * The node-fetch that @kubernetes/client-node itself uses, for the two requests keyway makes with
 * size bounds of its own (watch-stream.ts, bounded-http.ts): the options a KubeConfig gives (the
 * TLS agent, the timeout) then mean what they mean to the library. Resolved from the library's
 * location, so it is the library's own copy, whatever else is installed.
 */
import { createRequire } from 'node:module';

/** The part of node-fetch's answer keyway reads. */
export interface FetchResponse {
  readonly status: number;
  readonly statusText: string;
  readonly body: NodeJS.ReadableStream;
  readonly headers: { forEach(fn: (value: string, name: string) => void): void };
  text(): Promise<string>;
  buffer(): Promise<Buffer>;
}

export type Fetch = (url: URL | string, init: Record<string, unknown>) => Promise<FetchResponse>;

export const clientFetch = createRequire(createRequire(import.meta.url).resolve('@kubernetes/client-node'))('node-fetch') as Fetch;

/** node-fetch's error for a body past its `size` option. */
export function isMaxSizeError(err: unknown): boolean {
  return (err as { type?: unknown } | null)?.type === 'max-size';
}
