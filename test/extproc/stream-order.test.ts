/**
 * A stream whose first message is not the request headers (a gateway whose ext_proc filter skips
 * them: `request_header_mode: SKIP`). keyway picks from the request headers only; passing such a
 * stream through left Envoy to route the request unpicked, to any endpoint of the pool. keyway
 * fails the stream instead, naming what came first, and the gateway fails the request closed.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import { create, fromBinary, toBinary, type MessageInitShape } from '@bufbuild/protobuf';
import { Client, credentials, Metadata, type ClientDuplexStream, type StatusObject } from '@grpc/grpc-js';
import pino from 'pino';
import { envoySkipReason, startEnvoy, type EnvoyProcess } from '../../e2e/support/envoy.js';
import { gatewayBootstrap } from '../../e2e/support/ext-proc-gateway.js';
import { freePorts } from '../../e2e/support/ports.js';
import { startExtProcServer, type ExtProcServer } from '../../src/extproc/index.js';
import { ProcessingRequestSchema, ProcessingResponseSchema, type ProcessingResponse } from '../../src/xds/proto.js';
import { oneNodeState, state } from './three-nodes.js';

const identity = (b: Buffer): Buffer => b;
const text = new TextEncoder();

/** One ProcessingRequest's oneof, as `create` takes it. */
type RequestInit = MessageInitShape<typeof ProcessingRequestSchema>['request'];

const message = (request: RequestInit): Uint8Array => toBinary(ProcessingRequestSchema, create(ProcessingRequestSchema, { request }));
const pick = message({ case: 'requestHeaders', value: { headers: { headers: [{ key: 'x-cache-shard', rawValue: text.encode('1') }] }, endOfStream: true } });

/** Sends `messages` on one Process stream, half-closes, and collects the answers and the status. */
async function exchange(port: number, messages: readonly Uint8Array[]): Promise<{ answers: ProcessingResponse[]; status: StatusObject }> {
  const client = new Client(`127.0.0.1:${port}`, credentials.createInsecure());
  try {
    const call: ClientDuplexStream<Buffer, Buffer> = client.makeBidiStreamRequest('/envoy.service.ext_proc.v3.ExternalProcessor/Process', identity, identity, new Metadata());
    const answers: ProcessingResponse[] = [];
    call.on('data', (b: Buffer) => answers.push(fromBinary(ProcessingResponseSchema, b)));
    call.on('error', () => undefined);
    const status = new Promise<StatusObject>((resolve) => call.on('status', resolve));
    for (const m of messages) call.write(Buffer.from(m));
    call.end();
    return { answers, status: await status };
  } finally {
    client.close();
  }
}

const FIRSTS: ReadonlyArray<[string, RequestInit]> = [
  ['request_body', { case: 'requestBody', value: { body: text.encode('abc'), endOfStream: true } }],
  ['request_trailers', { case: 'requestTrailers', value: {} }],
  ['response_headers', { case: 'responseHeaders', value: { endOfStream: true } }],
  ['response_body', { case: 'responseBody', value: { body: text.encode('abc'), endOfStream: true } }],
];

test('a body, trailers or response headers before the request headers fail the stream with INVALID_ARGUMENT naming it; other streams go on', { timeout: 10_000 }, async () => {
  const server = await startExtProcServer({ state, port: 0, host: '127.0.0.1', logger: pino({ level: 'silent' }) });
  try {
    for (const [name, first] of FIRSTS) {
      const bad = await exchange(server.port, [message(first), pick]);
      assert.equal(bad.status.code, 3, `${name} first: INVALID_ARGUMENT, got ${bad.status.code} ${bad.status.details}`);
      assert.match(bad.status.details, new RegExp(`${name} came before request_headers`));
      assert.equal(bad.answers.length, 0, `${name} first: nothing passed through unpicked`);
    }
    const good = await exchange(server.port, [pick, message(FIRSTS[0]![1])]);
    assert.equal(good.status.code, 0);
    assert.deepEqual(good.answers.map((a) => a.response.case), ['requestHeaders', 'requestBody'], 'headers first: picked, then the body passes');
  } finally {
    await server.close();
  }
});

// On real Envoy: a gateway that skips the request headers fails its requests instead of sending
// them to endpoints that do not own their shard.
const skip = envoySkipReason();
let owner: http.Server | undefined;
let other: http.Server | undefined;
let picker: ExtProcServer | undefined;
let envoy: EnvoyProcess | undefined;
let gatewayPort = 0;

const answering = (name: string): Promise<http.Server> => {
  const server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => res.end(name));
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
};

before(async () => {
  if (skip) return;
  owner = await answering('owner');
  other = await answering('other');
  const ownerPort = (owner.address() as AddressInfo).port;
  // keyway's map has one node, the owner of every shard; the gateway's pool has both.
  picker = await startExtProcServer({ state: oneNodeState('127.0.0.1', ownerPort), port: 0, host: '127.0.0.1', logger: pino({ level: 'silent' }) });
  [gatewayPort] = (await freePorts(1)) as [number];
  const doc = gatewayBootstrap({
    listeners: [{ name: 'skips-headers', port: gatewayPort, picker: 'picker', streamBodies: true }],
    pickers: { picker: picker.port },
    backends: [
      { address: '127.0.0.1', port: ownerPort },
      { address: '127.0.0.1', port: (other.address() as AddressInfo).port },
    ],
  }) as unknown as { static_resources: { listeners: Array<{ filter_chains: Array<{ filters: Array<{ typed_config: { http_filters: Array<{ name: string; typed_config: { processing_mode: Record<string, string> } }> } }> }> }> } };
  const filters = doc.static_resources.listeners[0]!.filter_chains[0]!.filters[0]!.typed_config.http_filters;
  filters.find((f) => f.name === 'envoy.filters.http.ext_proc')!.typed_config.processing_mode.request_header_mode = 'SKIP';
  envoy = await startEnvoy({ bootstrap: doc as unknown as Record<string, unknown> });
});

after(async () => {
  await envoy?.stop();
  await picker?.close();
  for (const s of [owner, other]) await new Promise<void>((resolve) => (s ? s.close(() => resolve()) : resolve()));
});

function post(port: number): Promise<string> {
  return new Promise((resolve) => {
    const req = http.request({ host: '127.0.0.1', port, method: 'POST', path: '/', agent: false, headers: { 'x-cache-shard': '1' } }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve(`${res.statusCode} ${body}`));
    });
    req.on('error', (err) => resolve(`error ${err.message}`));
    req.end('payload');
  });
}

test('a gateway that skips the request headers fails its requests (500), none reaches an endpoint unpicked', { skip, timeout: 60_000 }, async () => {
  const got: string[] = [];
  for (let i = 0; i < 4; i++) got.push(await post(gatewayPort));
  assert.ok(got.every((g) => g.startsWith('500')), `every request fails closed: ${JSON.stringify(got)}`);
});
