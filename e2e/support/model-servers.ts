/**
 * Tiny HTTP backends standing in for model servers or cache nodes behind a gateway: each answers
 * with who it is (`x-served-by: ip:port`, the header the gateway bootstrap turns into the served
 * endpoint metadata), the picker's header it received, and the SHA-256 and length of the body it
 * read; `?size=N` adds N bytes of response body, written in chunks, so streamed bodies are checked
 * both ways.
 */
import { createHash } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ModelServerAnswer {
  readonly servedBy: string;
  readonly destination: string | undefined;
  readonly bodySha256: string;
  readonly bodyLength: number;
}

export interface ModelServer {
  readonly address: string;
  readonly port: number;
  /** `ip:port`, as the picker writes it. */
  readonly endpoint: string;
  /** Stops accepting connections (the gateway's connects are refused). Idempotent. */
  close(): Promise<void>;
}

/** The response body `?size=N` asks for: bytes 0..255 repeated (deterministic, so a test recomputes its hash). */
export function patternBody(size: number): Buffer {
  const b = Buffer.alloc(size);
  for (let i = 0; i < size; i++) b[i] = i & 0xff;
  return b;
}

/** Starts one backend on 127.0.0.1 (a free port). */
export async function startModelServer(): Promise<ModelServer> {
  let endpoint = '';
  const server = http.createServer((req, res) => {
    const hash = createHash('sha256');
    let length = 0;
    req.on('data', (c: Buffer) => {
      hash.update(c);
      length += c.length;
    });
    req.on('end', () => {
      const size = Number(new URL(req.url ?? '/', 'http://x').searchParams.get('size') ?? 0);
      const answer: ModelServerAnswer = {
        servedBy: endpoint,
        destination: req.headers['x-gateway-destination-endpoint'] as string | undefined,
        bodySha256: hash.digest('hex'),
        bodyLength: length,
      };
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'x-served-by': endpoint, 'x-answer': JSON.stringify(answer) });
      const body = patternBody(size);
      // Several writes: the gateway sees several chunks.
      for (let off = 0; off < body.length; off += 16384) res.write(body.subarray(off, off + 16384));
      res.end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  endpoint = `127.0.0.1:${port}`;
  let closed: Promise<void> | undefined;
  return {
    address: '127.0.0.1',
    port,
    endpoint,
    close() {
      closed ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      return closed;
    },
  };
}
