/** An HTTP server on 127.0.0.1 that answers fixed bodies per path: what a non-keyway server (or a broken proxy) sends the CLI. */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { CommandIo } from '../../../src/cli/commands/options.js';

export interface FakeServer {
  readonly url: string;
  readonly port: number;
  /** Request paths (with query) in arrival order. */
  readonly requests: string[];
  close(): Promise<void>;
}

/** A body, or a status and a body. */
export type Answer = string | { readonly status: number; readonly body: string; readonly headers?: Readonly<Record<string, string>> };

/**
 * Serves `answers[path]` (path without query; status 200 for a bare body), or `fallback` for
 * other paths. `port` 0 lets the kernel choose; a fixed port rejects when it is taken.
 */
export async function fakeServer(answers: Readonly<Record<string, Answer>>, fallback: Answer = '{}', port = 0): Promise<FakeServer> {
  const requests: string[] = [];
  const server = http.createServer((req, res) => {
    requests.push(req.url ?? '');
    const answer = answers[(req.url ?? '').split('?')[0]!] ?? fallback;
    res.statusCode = typeof answer === 'string' ? 200 : answer.status;
    res.setHeader('content-type', 'application/json');
    if (typeof answer !== 'string') for (const [k, v] of Object.entries(answer.headers ?? {})) res.setHeader(k, v);
    res.end(typeof answer === 'string' ? answer : answer.body);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });
  const bound = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${bound}`,
    port: bound,
    requests,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** A CommandIo that keeps what a command writes. */
export function captureIo(): CommandIo & { stdout: string; stderr: string } {
  const io = {
    stdout: '',
    stderr: '',
    out: (s: string) => void (io.stdout += s),
    err: (s: string) => void (io.stderr += s),
  };
  return io;
}
