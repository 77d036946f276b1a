/**
 * A /v1/shardmap that arrives slowly, for the ShardMapClient's bound on a whole transfer
 * (shard-map-client-herd.test.ts, shard-map-client-transfer-bound.test.ts): setTimeout is mocked,
 * so minutes of transfer take milliseconds. Each scenario runs in its own file: Node 20's mocked
 * timers did not fire in a test after one whose request they had cut.
 */
import type { TestContext } from 'node:test';
import { createServer, type ServerResponse } from 'node:http';
import { ShardMapClient } from '../../src/client/shard-map-client.js';
import { listenForTest } from '../support/loopback-server.js';

const S = 64;
/** A map body padded to `bytes` (an unknown field the client ignores), as a big deployment's is. */
export function paddedBody(bytes: number): string {
  const map = { version: 'v1', shardCount: S, shards: Array.from({ length: S }, (_, shard) => ({ shard, owners: ['a'] })), endpoints: [{ id: 'a', address: '127.0.0.1', port: 7000 }] };
  const head = JSON.stringify(map).slice(0, -1);
  return `${head},"padding":"${'x'.repeat(bytes - head.length - 14)}"}`;
}

/** MIN_TRANSFER_BYTES_PER_S, the rate a declared body is let arrive at past MAX_TRANSFER_MS. */
export const FLOOR_BYTES_PER_S = 16 * 1024;

/** Real turns of the event loop (setTimeout is mocked here). */
async function turns(n: number): Promise<void> {
  for (let i = 0; i < n; i++) await new Promise((r) => setImmediate(r));
}

/**
 * Connects to a server that sends `body` (its Content-Length declared) in `parts` pieces, the mocked
 * clock moving `stepMs` after each piece the client has read; what connect() gave.
 */
export async function fetchSlowly(t: TestContext, body: string, parts: number, stepMs: number): Promise<unknown> {
  let res: ServerResponse | undefined;
  const base = await listenForTest(t, createServer((_req, r) => {
    res = r;
    r.writeHead(200, { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)) });
  }));
  // Counts the bytes of the body the client has read.
  let read = 0;
  const original = globalThis.fetch;
  globalThis.fetch = async (input, init) => {
    const answer = await original(input, init);
    const reader = answer.body!.getReader();
    const counted = new ReadableStream<Uint8Array>({
      async pull(c) {
        const { done, value } = await reader.read();
        if (done) return c.close();
        read += value.byteLength;
        c.enqueue(value);
      },
      cancel: (reason) => reader.cancel(reason),
    });
    return new Response(counted, { status: answer.status, headers: answer.headers });
  };
  t.after(() => void (globalThis.fetch = original));
  t.mock.timers.enable({ apis: ['setTimeout'], now: 0 });
  // timeoutMs above each piece's wait: the body is never silent for it.
  const connecting = ShardMapClient.connect({ baseUrl: base, pollIntervalMs: 0, timeoutMs: 2 * stepMs });
  let outcome: unknown;
  connecting.then((c) => (outcome = c), (err: unknown) => (outcome = err));
  while (!res) await turns(1);
  const size = Math.ceil(body.length / parts);
  for (let i = 0; i < parts && outcome === undefined; i++) {
    const before = read;
    res.write(body.slice(i * size, (i + 1) * size));
    // Read by the client (its silence timer restarted) before the clock moves on.
    while (read < before + Math.min(size, body.length - i * size) && outcome === undefined) await turns(1);
    await turns(5);
    t.mock.timers.tick(stepMs);
    await turns(5);
  }
  if (outcome === undefined) res.end();
  while (outcome === undefined) await turns(1);
  res.destroy();
  if (outcome instanceof ShardMapClient) outcome.close();
  return outcome;
}
