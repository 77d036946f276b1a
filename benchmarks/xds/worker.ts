/**
 * One process of the xDS load client (benchmarks/xds/run.ts): opens its share of Envoy-like ADS
 * streams, each on its own HTTP/2 connection like Envoy's, subscribes to every type (CDS and LDS
 * wildcard, EDS and RDS by name), ACKs every response, and after `arm` records per stream when it
 * has received a response of every changed type (the time it holds the new version). Commands and
 * answers travel on the IPC channel.
 */
import http2 from 'node:http2';
import { ADS_DELTA, ADS_SOTW, Deframer, deltaRequest, frame, readResponse, sotwRequest } from './wire.js';

export type Mode = 'sotw' | 'delta';

export interface Subscription {
  readonly typeUrl: string;
  /** Names asked; empty: wildcard. */
  readonly names: readonly string[];
}

export type Command =
  | { readonly cmd: 'connect'; readonly port: number; readonly mode: Mode; readonly first: number; readonly count: number; readonly subscriptions: readonly Subscription[] }
  | { readonly cmd: 'arm'; readonly types: readonly string[] }
  | { readonly cmd: 'collect' }
  | { readonly cmd: 'close' };

export type Answer =
  | { readonly cmd: 'connected'; readonly failed: number }
  | { readonly cmd: 'armed' }
  | { readonly cmd: 'collected'; readonly times: readonly number[]; readonly bytes: number; readonly responses: number };

const now = (): number => performance.timeOrigin + performance.now();

interface Stream {
  /** Types that answered since the last arm. */
  readonly seen: Set<string>;
  /** Wall time (ms since the epoch) when every awaited type answered; 0 while not. */
  convergedAt: number;
  bytes: number;
  responses: number;
  close(): void;
}

const streams: Stream[] = [];
let awaited: readonly string[] = [];
let onProgress: (() => void) | undefined;

function open(port: number, mode: Mode, nodeId: string, subs: readonly Subscription[]): Promise<Stream> {
  return new Promise((resolve, reject) => {
    const session = http2.connect(`http://127.0.0.1:${port}`);
    session.on('error', () => {});
    const req = session.request(
      { ':method': 'POST', ':path': mode === 'sotw' ? ADS_SOTW : ADS_DELTA, 'content-type': 'application/grpc', te: 'trailers' },
      { endStream: false },
    );
    const s: Stream = {
      seen: new Set(),
      convergedAt: 0,
      bytes: 0,
      responses: 0,
      close: () => {
        req.close();
        session.close();
      },
    };
    const names = new Map(subs.map((x) => [x.typeUrl, x.names]));
    const initial = new Set(subs.map((x) => x.typeUrl));
    let first = true;
    for (const sub of subs) {
      req.write(frame(mode === 'sotw' ? sotwRequest(first ? nodeId : undefined, sub.typeUrl, sub.names, '', '') : deltaRequest(first ? nodeId : undefined, sub.typeUrl, sub.names.length ? sub.names : ['*'], '')));
      first = false;
    }
    const deframer = new Deframer();
    req.on('data', (chunk: Buffer) => {
      s.bytes += chunk.length;
      deframer.push(chunk, (msg) => {
        const h = readResponse(msg);
        s.responses++;
        // ACK at once, as Envoy does once it applied the response.
        req.write(frame(mode === 'sotw' ? sotwRequest(undefined, h.typeUrl, names.get(h.typeUrl) ?? [], h.version, h.nonce) : deltaRequest(undefined, h.typeUrl, [], h.nonce)));
        s.seen.add(h.typeUrl);
        if (initial.size > 0) {
          initial.delete(h.typeUrl);
          if (initial.size === 0) resolve(s);
        }
        if (s.convergedAt === 0 && awaited.length > 0 && awaited.every((t) => s.seen.has(t))) {
          s.convergedAt = now();
          onProgress?.();
        }
      });
    });
    req.on('error', (err) => reject(err));
    req.on('close', () => reject(new Error(`stream ${nodeId} closed (rst ${req.rstCode})`)));
  });
}

async function handle(c: Command): Promise<Answer | undefined> {
  switch (c.cmd) {
    case 'connect': {
      let failed = 0;
      // Opened in batches: a connect storm of thousands at once measures the kernel's accept queue.
      for (let i = 0; i < c.count; i += 50) {
        const batch = Array.from({ length: Math.min(50, c.count - i) }, (_, j) => open(c.port, c.mode, `bench-${c.first + i + j}`, c.subscriptions));
        for (const r of await Promise.allSettled(batch)) {
          if (r.status === 'fulfilled') streams.push(r.value);
          else failed++;
        }
      }
      return { cmd: 'connected', failed };
    }
    case 'arm':
      awaited = c.types;
      for (const s of streams) {
        s.seen.clear();
        s.convergedAt = 0;
        s.bytes = 0;
        s.responses = 0;
      }
      return { cmd: 'armed' };
    case 'collect':
      return {
        cmd: 'collected',
        times: streams.map((s) => s.convergedAt),
        bytes: streams.reduce((n, s) => n + s.bytes, 0),
        responses: streams.reduce((n, s) => n + s.responses, 0),
      };
    case 'close':
      for (const s of streams) s.close();
      setTimeout(() => process.exit(0), 100);
      return undefined;
  }
}

process.on('message', (c: Command) => {
  void handle(c).then((a) => a && process.send!(a));
});
