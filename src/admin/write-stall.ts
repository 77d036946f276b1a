/**
 * The write-stall limit of the admin server (docs/security.md "REST requests"): a connection whose
 * client takes none of its pending answer bytes for `stallMs` is closed, so a client that stops
 * reading cannot hold a socket (and the answer's buffer) for ever. A slow reader is not cut: any
 * byte taken restarts the clock.
 *
 * Node reports no event as the kernel takes part of a write; keyway writes each body in one, so
 * `bytesWritten` and the write callback move only once the whole body is out. Progress is therefore
 * sampled: a write completed (`bytesWritten - writableLength` grew) or libuv's queue of the write
 * under way shrank (`writeQueueSize`, which libuv lowers each time the kernel takes bytes). The
 * kernel itself reports room only once a third of its send buffer is free, so a reader is seen to
 * progress every third of that buffer it takes (about 1.4 MB over loopback, at most 4 MiB / 3).
 */
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Logger } from 'pino';
import { RefusalLog } from '../xds/server/refusal-log.js';
import { REST_WRITE_STALL_ENV } from './request-limits.js';

interface Watch {
  /** Answers on the connection not closed yet. */
  open: number;
  /** Bytes whose write completed, and libuv's queue, at the last sample. */
  done: number;
  queued: number;
  /** When the client last took a byte, or the connection last had none pending (monotonic ms). */
  since: number;
  /** The latest request, for the log. */
  method: string;
  url: string;
}

/** How often connections are sampled: a stall is cut at most this late. */
export function writeStallCheckMs(stallMs: number): number {
  return Math.max(10, Math.min(1_000, Math.floor(stallMs / 4)));
}

/**
 * Watches every connection of `server` while it has an answer open, and destroys one whose client
 * took no byte for `stallMs`. Returns a close function (stops the watch, logs the burst under way).
 */
export function watchWriteStalls(server: Server, stallMs: number, log?: Logger): () => void {
  const watches = new Map<Socket, Watch>();
  const refusals = log ? new RefusalLog(log, undefined, 'admin REST connections closed') : undefined;
  let sweep: NodeJS.Timeout | undefined;

  const sample = (): void => {
    // Monotonic: a wall clock stepped back let a client that reads nothing hold its socket for the
    // step, and one stepped forward cut a slow reader at its first pause.
    const now = performance.now();
    for (const [socket, w] of watches) {
      if (socket.destroyed) {
        watches.delete(socket);
        continue;
      }
      const pending = socket.writableLength;
      const done = socket.bytesWritten - pending;
      const queued = writeQueueSize(socket);
      if (pending === 0 || done !== w.done || queued !== w.queued) {
        Object.assign(w, { done, queued, since: now });
        continue;
      }
      if (now - w.since < stallMs) continue;
      watches.delete(socket);
      const peer = `${socket.remoteAddress}:${socket.remotePort}`;
      socket.destroy();
      refusals?.refused(
        REST_WRITE_STALL_ENV,
        { peer, method: w.method, url: w.url, heldBytes: pending },
        `admin REST connection closed: its client took no byte of its answer in ${stallMs} ms (keyway held ${pending} bytes for it)`,
      );
    }
    if (watches.size === 0) stop();
  };
  const stop = (): void => {
    clearInterval(sweep);
    sweep = undefined;
  };

  const onRequest = (request: IncomingMessage, response: ServerResponse): void => {
    const socket = request.socket;
    let w = watches.get(socket);
    if (!w) {
      w = { open: 0, done: socket.bytesWritten - socket.writableLength, queued: writeQueueSize(socket), since: performance.now(), method: '', url: '' };
      watches.set(socket, w);
    }
    const watch = w;
    Object.assign(watch, { open: watch.open + 1, method: request.method ?? '', url: (request.url ?? '').slice(0, 200) });
    // An answer's 'close' comes once its last byte is in the kernel, or the connection is gone: what
    // the kernel then holds is bounded, and the keep-alive timeout closes an idle connection.
    response.once('close', () => {
      watch.open -= 1;
      if (watch.open === 0 && watches.get(socket) === watch) watches.delete(socket);
    });
    if (!sweep) {
      sweep = setInterval(sample, writeStallCheckMs(stallMs));
      // Watching must not keep the process alive.
      sweep.unref();
    }
  };
  server.on('request', onRequest);
  return () => {
    server.off('request', onRequest);
    stop();
    watches.clear();
    refusals?.close();
  };
}

/** Bytes libuv holds of the write under way (undocumented but stable since Node 8; 0 if absent). */
function writeQueueSize(socket: Socket): number {
  const handle = (socket as unknown as { _handle?: { writeQueueSize?: unknown } })._handle;
  return typeof handle?.writeQueueSize === 'number' ? handle.writeQueueSize : 0;
}
