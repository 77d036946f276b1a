/**
 * Raw HTTP/1.x over a socket for the cache node's fuzz tests: the bytes are sent as given (no
 * client library fixes them up), in pieces with pauses when asked (slowloris), and the answer is
 * read until the server closes or a bound passes.
 */
import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

export interface Exchange {
  /** Status codes of the responses, in order. */
  readonly statuses: number[];
  /** Everything the server sent. */
  readonly raw: Buffer;
  /** The server closed (or reset) the connection before the bound. */
  readonly closed: boolean;
  readonly ms: number;
}

/**
 * Sends `pieces` one after another (waiting `pauseMs` between them), half-closes, and reads until
 * the server closes the connection or `timeoutMs` passes (then destroys it).
 */
export async function exchange(port: number, pieces: readonly Buffer[], opts: { pauseMs?: number; timeoutMs?: number } = {}): Promise<Exchange> {
  const started = performance.now();
  const socket = net.connect(port, '127.0.0.1');
  const chunks: Buffer[] = [];
  socket.on('data', (c: Buffer) => chunks.push(c));
  const closed = new Promise<boolean>((resolve) => {
    const timer = setTimeout(() => {
      socket.destroy();
      resolve(false);
    }, opts.timeoutMs ?? 5_000);
    socket.once('close', () => {
      clearTimeout(timer);
      resolve(true);
    });
  });
  socket.on('error', () => {}); // a reset after a 400 is an answer too
  await new Promise<void>((resolve) => {
    socket.once('connect', resolve);
    socket.once('close', () => resolve());
  });
  for (const [i, piece] of pieces.entries()) {
    if (socket.destroyed) break;
    if (i > 0 && opts.pauseMs) await sleep(opts.pauseMs);
    socket.write(piece);
  }
  if (!socket.destroyed) socket.end();
  const wasClosed = await closed;
  const raw = Buffer.concat(chunks);
  return { statuses: statusesOf(raw), raw, closed: wasClosed, ms: performance.now() - started };
}

/** Status codes of the status lines in `raw` (bodies are JSON: a raw CR LF never starts a line in one). */
export function statusesOf(raw: Buffer): number[] {
  const text = raw.toString('latin1');
  return [...text.matchAll(/(?:^|\r\n)HTTP\/1\.[01] (\d{3}) /g)].map((m) => Number(m[1]));
}
