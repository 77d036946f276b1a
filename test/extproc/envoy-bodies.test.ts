/**
 * The picker behind real Envoy with request bodies through it: keyway must never end a stream
 * while body chunks may still pass through it. Envoy hands each chunk to the picker and forwards
 * what comes back; a stream the picker ends (OK) with chunks in flight sent the upstream a wrong
 * body with a 200 (measured: 1 MiB uploaded, 1 MiB + 32 KiB received).
 * - the upstream answers before the upload is over (a bidirectional stream) and the gateway sends
 *   request bodies to the picker but not response bodies: the response is over at its headers,
 *   the request is not;
 * - keyway shuts down (a rollout) while an upload streams through it.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import pino from 'pino';
import { startEnvoy, envoySkipReason, type EnvoyProcess } from '../../e2e/support/envoy.js';
import { gatewayBootstrap } from '../../e2e/support/ext-proc-gateway.js';
import { freePorts } from '../../e2e/support/ports.js';
import { startExtProcServer, type ExtProcServer } from '../../src/extproc/index.js';
import { oneNodeState } from './three-nodes.js';

const skip = envoySkipReason();
/** Listeners with request bodies through the picker and response bodies not (a gateway reading the model name from the request). */
const EARLY = ['FULL_DUPLEX_STREAMED', 'STREAMED'] as const;
/** The listener of the shutdown case: FULL_DUPLEX_STREAMED both ways, what gateways set, through its own picker. */
const SHUTDOWN = 'shutdown';

let upstream: http.Server | undefined;
let picker: ExtProcServer | undefined;
let doomed: ExtProcServer | undefined;
let envoy: EnvoyProcess | undefined;
const ports: Record<string, number> = {};

/** The parts of the gateway bootstrap this file edits. */
interface Doc {
  static_resources: {
    listeners: Array<{
      name: string;
      filter_chains: Array<{ filters: Array<{ typed_config: { route_config: { virtual_hosts: Array<{ routes: Array<{ route: { timeout: string } }> }> }; http_filters: Array<{ name: string; typed_config: { processing_mode: Record<string, string> } }> } }> }>;
    }>;
  };
}

/** Answers 200 at once, then reads the whole body and ends the response with its size and hash. */
function startUpstream(): Promise<http.Server> {
  const server = http.createServer((req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.write('started\n');
    const hash = createHash('sha256');
    let bytes = 0;
    req.on('data', (c: Buffer) => {
      hash.update(c);
      bytes += c.length;
    });
    req.on('end', () => res.end(`${bytes} ${hash.digest('hex')}\n`));
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

before(async () => {
  if (skip) return;
  upstream = await startUpstream();
  const port = (upstream.address() as AddressInfo).port;
  const state = oneNodeState('127.0.0.1', port);
  picker = await startExtProcServer({ state, port: 0, host: '127.0.0.1', logger: pino({ level: 'silent' }) });
  doomed = await startExtProcServer({ state, port: 0, host: '127.0.0.1', logger: pino({ level: 'silent' }) });
  const names = [...EARLY, SHUTDOWN];
  const free = await freePorts(names.length);
  names.forEach((m, i) => (ports[m] = free[i]!));
  const doc = gatewayBootstrap({
    listeners: names.map((m) => ({ name: m, port: ports[m]!, picker: m === SHUTDOWN ? 'doomed' : 'picker', streamBodies: true })),
    pickers: { picker: picker.port, doomed: doomed.port },
    backends: [{ address: '127.0.0.1', port }],
    servedHeader: 'x-served-by',
  }) as unknown as Doc;
  for (const l of doc.static_resources.listeners) {
    const hcm = l.filter_chains[0]!.filters[0]!.typed_config;
    hcm.route_config.virtual_hosts[0]!.routes[0]!.route.timeout = '0s';
    if (l.name === SHUTDOWN) continue;
    const mode = hcm.http_filters.find((f) => f.name === 'envoy.filters.http.ext_proc')!.typed_config.processing_mode;
    mode.request_body_mode = l.name;
    mode.response_body_mode = 'NONE';
    mode.response_trailer_mode = 'SKIP';
  }
  envoy = await startEnvoy({ bootstrap: doc as unknown as Record<string, unknown> });
});

after(async () => {
  await envoy?.stop();
  await picker?.close();
  await doomed?.close();
  await new Promise<void>((resolve) => (upstream ? upstream.close(() => resolve()) : resolve()));
});

/** Uploads `total` bytes in `chunk`-byte writes `intervalMs` apart; resolves with the status and body ('' and 0 when the gateway reset it). */
function upload(port: number, total: number, chunk: number, intervalMs: number): Promise<{ status: number; body: string }> {
  return new Promise((resolve) => {
    let status = 0;
    const chunks: Buffer[] = [];
    const req = http.request({ host: '127.0.0.1', port, path: '/up', method: 'POST', agent: false, headers: { 'x-cache-shard': '1', 'content-length': String(total) } }, (res) => {
      status = res.statusCode ?? 0;
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status, body: Buffer.concat(chunks).toString() }));
      res.on('error', () => resolve({ status, body: Buffer.concat(chunks).toString() }));
    });
    req.on('error', () => resolve({ status, body: Buffer.concat(chunks).toString() }));
    const piece = Buffer.alloc(chunk, 0x61);
    let sent = 0;
    const write = (): void => {
      if (req.destroyed) return;
      const n = Math.min(chunk, total - sent);
      sent += n;
      req.write(piece.subarray(0, n));
      if (sent >= total) req.end();
      else setTimeout(write, intervalMs);
    };
    write();
  });
}

const whole = (total: number): string => `started\n${total} ${createHash('sha256').update(Buffer.alloc(total, 0x61)).digest('hex')}\n`;

for (const mode of EARLY) {
  test(`an upload that goes on after the response headers reaches the upstream whole (request body ${mode}, response body NONE)`, { skip, timeout: 60_000 }, async () => {
    const total = 1 << 20;
    const got = await upload(ports[mode]!, total, 32768, 10);
    assert.equal(got.status, 200);
    assert.equal(got.body, whole(total));
    await envoy!.waitForStat('cluster.picker.upstream_rq_active', (v) => v === 0, { what: 'no ext_proc stream open', timeoutMs: 10_000 });
  });
}

test('an upload streaming through the picker when it shuts down reaches the upstream whole (it may finish within the shutdown grace)', { skip, timeout: 60_000 }, async () => {
  const total = 1 << 20;
  // About 0.4 s of upload, well within the 2 s shutdown grace.
  const pending = upload(ports[SHUTDOWN]!, total, 32768, 12);
  await envoy!.waitForStat('cluster.doomed.upstream_rq_active', (v) => v === 1, { what: 'the upload streams through the picker', timeoutMs: 10_000 });
  await new Promise((resolve) => setTimeout(resolve, 100));
  const closing = doomed!.close();
  const got = await pending;
  await closing;
  assert.equal(got.body, whole(total), `status ${got.status}`);
});
