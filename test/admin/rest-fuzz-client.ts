/**
 * Raw HTTP/1.1 for the REST fuzz test (rest-fuzz.test.ts): requests are written to a socket byte
 * for byte (so absolute-form targets, `..` segments, bad escapes and odd headers reach Node's
 * parser and fastify's router as sent, which `inject()` and fetch() would normalise), and every
 * answer is awaited within a bound.
 */
import { connect } from 'node:net';

/** One answer as read off the socket; `error` when none came (hang, reset, unparsable). */
export interface RawAnswer {
  readonly status: number;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string;
  readonly ms: number;
  readonly error?: string;
}

/**
 * Writes `request` (a binary string: one char per byte) to 127.0.0.1:`port` and reads until the
 * server closes; the request should say `Connection: close`. An answer past `boundMs` is an error.
 */
export function rawRequest(port: number, request: string, boundMs: number, head = false): Promise<RawAnswer> {
  const start = performance.now();
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    const socket = connect(port, '127.0.0.1');
    const done = (error?: string): void => {
      clearTimeout(timer);
      socket.destroy();
      const ms = performance.now() - start;
      if (error) return resolve({ status: 0, headers: {}, body: '', ms, error });
      const parsed = parseAnswer(Buffer.concat(chunks), head);
      resolve(typeof parsed === 'string' ? { status: 0, headers: {}, body: '', ms, error: parsed } : { ...parsed, ms });
    };
    const timer = setTimeout(() => done(`no answer within ${boundMs} ms`), boundMs);
    socket.on('data', (d: Buffer) => chunks.push(d));
    // A reset after the answer was written (the server closes a request it refused) is fine.
    socket.on('error', (err) => (chunks.length > 0 ? done() : done(`socket error before any answer: ${err.message}`)));
    socket.on('close', () => done());
    socket.write(Buffer.from(request, 'latin1'));
  });
}

/** Parses the first final answer of `raw` (a 100 Continue may come first); an answer to HEAD has no body. */
function parseAnswer(raw: Buffer, head: boolean): Omit<RawAnswer, 'ms'> | string {
  let rest = raw;
  for (;;) {
    const end = rest.indexOf('\r\n\r\n');
    if (end < 0) return `no complete answer: ${JSON.stringify(rest.toString('latin1').slice(0, 200))}`;
    const lines = rest.subarray(0, end).toString('latin1').split('\r\n');
    const m = /^HTTP\/1\.[01] (\d{3})/.exec(lines[0]!);
    if (!m) return `not an HTTP answer: ${JSON.stringify(lines[0])}`;
    const status = Number(m[1]);
    const headers: Record<string, string> = {};
    for (const line of lines.slice(1)) {
      const i = line.indexOf(':');
      if (i > 0) headers[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim();
    }
    rest = rest.subarray(end + 4);
    if (status < 200) continue;
    let body: Buffer;
    if (head || status === 304) body = Buffer.alloc(0);
    else if (/chunked/i.test(headers['transfer-encoding'] ?? '')) {
      const de = dechunk(rest);
      if (typeof de === 'string') return de;
      body = de;
    } else {
      const length = Number(headers['content-length'] ?? rest.length);
      if (rest.length < length) return `body cut short: ${rest.length} of ${length} bytes`;
      body = rest.subarray(0, length);
    }
    return { status, headers, body: body.toString('utf8') };
  }
}

function dechunk(raw: Buffer): Buffer | string {
  const out: Buffer[] = [];
  let at = 0;
  for (;;) {
    const eol = raw.indexOf('\r\n', at);
    if (eol < 0) return 'chunked body cut short';
    const size = parseInt(raw.subarray(at, eol).toString('latin1'), 16);
    if (!Number.isFinite(size)) return 'bad chunk size';
    if (size === 0) return Buffer.concat(out);
    out.push(raw.subarray(eol + 2, eol + 2 + size));
    at = eol + 2 + size + 2;
  }
}

/** `s` as UTF-8 bytes in a binary string (one char per byte), to put raw Unicode on the wire. */
export function utf8Bytes(s: string): string {
  return Buffer.from(s, 'utf8').toString('latin1');
}
