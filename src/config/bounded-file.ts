/**
 * A bounded, type-checked read of a file named on the command line (the xDS TLS files,
 * `--admin-token-file`). `fs.readFile` on a FIFO blocks in a libuv threadpool thread until a
 * writer opens it, and nothing can cancel that thread: the start hung, SIGTERM could not end it
 * and even process.exit waited on it (only SIGKILL did); a path swapped for a FIFO at run time
 * took one more of the four pool threads at each poll, until file reads and DNS lookups stalled.
 * On a device (/dev/zero, /dev/urandom) it read without end into memory.
 */
import { closeSync, constants as fsConstants, createReadStream, fstat, open as fsOpen, type Stats } from 'node:fs';
import { stat } from 'node:fs/promises';
import { Socket } from 'node:net';
import type { Readable } from 'node:stream';

/** What `readBoundedFile` accepts. */
export interface BoundedReadOptions {
  /** Past this many bytes the read stops and fails. */
  readonly maxBytes: number;
  /** The name of the limit, for the message (`MAX_XDS_TLS_FILE_BYTES`). */
  readonly limitName: string;
  /** Said of a file past the limit after its size (`more than a token`); optional. */
  readonly tooLarge?: string;
  /**
   * Whether a pipe (a FIFO, `<(command)`) is read, through the event loop so that waiting for its
   * writer can be given up; otherwise it is refused like a device. A file re-read on a poll is
   * never a pipe: a pipe gives its text once.
   */
  readonly allowPipe: boolean;
}

/** The path is not a kind of file that can be read here, or it holds too much: the message says why. */
export class UnreadableFileError extends Error {
  override readonly name = 'UnreadableFileError';
}

/**
 * Opening a FIFO for reading blocks until a writer opens it; O_NONBLOCK makes the open return at
 * once (the type check then refuses it, or the read waits on the event loop). On a regular file
 * it changes nothing.
 */
const READ_WITHOUT_WAITING = fsConstants.O_RDONLY | (fsConstants.O_NONBLOCK ?? 0);

/**
 * The bytes of a regular file (or, with `allowPipe`, a pipe), at most `maxBytes`. Anything else
 * (a device, a directory, a socket) is refused before it is opened, and again on what was opened
 * in case the path was replaced in between. Symbolic links are followed (a Kubernetes Secret
 * volume's files are links into its `..data` directory).
 * @throws UnreadableFileError; the system's error (ENOENT, EACCES, ...)
 */
export async function readBoundedFile(file: string, opts: BoundedReadOptions): Promise<Buffer> {
  refuseUnlessReadable(await stat(file), opts.allowPipe);
  const fd = await new Promise<number>((resolve, reject) => fsOpen(file, READ_WITHOUT_WAITING, (err, opened) => (err ? reject(err) : resolve(opened))));
  let st: Stats;
  try {
    st = await new Promise<Stats>((resolve, reject) => fstat(fd, (err, stats) => (err ? reject(err) : resolve(stats))));
    refuseUnlessReadable(st, opts.allowPipe);
  } catch (err) {
    closeSync(fd);
    throw err;
  }
  // Each stream owns the descriptor from here and closes it.
  const stream = st.isFIFO() ? new Socket({ fd, readable: true, writable: false }) : createReadStream('', { fd });
  return readAtMost(stream, opts);
}

/** Reads `stream` to its end; past `maxBytes` it stops and throws UnreadableFileError. */
async function readAtMost(stream: Readable, opts: BoundedReadOptions): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let bytes = 0;
  try {
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      bytes += chunk.length;
      if (bytes > opts.maxBytes) throw new UnreadableFileError(`holds more than ${opts.maxBytes} bytes${opts.tooLarge ? `, ${opts.tooLarge}` : ''} (${opts.limitName})`);
      chunks.push(chunk);
    }
  } finally {
    stream.destroy();
  }
  return Buffer.concat(chunks, bytes);
}

function refuseUnlessReadable(st: Stats, allowPipe: boolean): void {
  if (st.isFile() || (allowPipe && st.isFIFO())) return;
  const kind = st.isFIFO()
    ? 'a pipe (FIFO)'
    : st.isDirectory()
      ? 'a directory'
      : st.isCharacterDevice()
        ? 'a character device'
        : st.isBlockDevice()
          ? 'a block device'
          : st.isSocket()
            ? 'a socket'
            : 'a file of an unknown type';
  throw new UnreadableFileError(`must be a regular file${allowPipe ? ' or a pipe' : ''}, got ${kind}`);
}
