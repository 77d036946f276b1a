/**
 * The endpoint picker's gRPC server on loopback (src/extproc/server.ts): what a client on the
 * plaintext port can send it without a gateway's good manners.
 */
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import { test } from 'node:test';
import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import { Client, credentials, Metadata, type ClientDuplexStream, type StatusObject } from '@grpc/grpc-js';
import pino from 'pino';
import { HEALTH_SERVICE, ServingStatus, startExtProcServer } from '../../src/extproc/index.js';
import { state } from './three-nodes.js';
import { ProcessingRequestSchema, ProcessingResponseSchema, type ProcessingResponse } from '../../src/xds/proto.js';


const identity = (b: Buffer): Buffer => b;

interface ProcessStream {
  readonly call: ClientDuplexStream<Buffer, Buffer>;
  /** Every answer so far. */
  readonly answers: ProcessingResponse[];
  readonly status: Promise<StatusObject>;
  /** The next answer to come. */
  readonly next: () => Promise<ProcessingResponse>;
}

/** Opens one Process stream on `client`: its answers as they come, and its status when it ends. */
function openProcess(client: Client): ProcessStream {
  const call: ClientDuplexStream<Buffer, Buffer> = client.makeBidiStreamRequest('/envoy.service.ext_proc.v3.ExternalProcessor/Process', identity, identity, new Metadata());
  const answers: ProcessingResponse[] = [];
  let waiting: ((r: ProcessingResponse) => void) | undefined;
  call.on('data', (b: Buffer) => {
    const r = fromBinary(ProcessingResponseSchema, b);
    answers.push(r);
    waiting?.(r);
  });
  call.on('error', () => undefined);
  const status = new Promise<StatusObject>((resolve) => call.on('status', resolve));
  return { call, answers, status, next: () => new Promise((resolve) => (waiting = resolve)) };
}

/** Sends `messages` (raw bytes) on one Process stream, half-closes, and collects the answers and the status. */
async function exchange(port: number, messages: readonly Uint8Array[]): Promise<{ answers: ProcessingResponse[]; status: StatusObject }> {
  const client = new Client(`127.0.0.1:${port}`, credentials.createInsecure());
  try {
    const { call, answers, status } = openProcess(client);
    for (const m of messages) call.write(Buffer.from(m));
    call.end();
    return { answers, status: await status };
  } finally {
    client.close();
  }
}

const headersMessage = (shard: string): Uint8Array =>
  toBinary(ProcessingRequestSchema, create(ProcessingRequestSchema, { request: { case: 'requestHeaders', value: { headers: { headers: [{ key: 'x-cache-shard', rawValue: new TextEncoder().encode(shard) }] }, endOfStream: true } } }));

test('a malformed protocol_config fails its stream with INVALID_ARGUMENT naming the field; the server keeps answering', { timeout: 10_000 }, async () => {
  const server = await startExtProcServer({ state, port: 0, host: '127.0.0.1', logger: pino({ level: 'silent' }) });
  try {
    // Field 11 (protocol_config), 1 byte: a tag for field 1 with its varint missing.
    const malformed = new Uint8Array([...headersMessage('1'), 0x5a, 0x01, 0x08]);
    const bad = await exchange(server.port, [malformed]);
    assert.equal(bad.status.code, 3, 'INVALID_ARGUMENT');
    assert.match(bad.status.details, /protocol_config/);
    assert.equal(bad.answers.length, 0);
    const good = await exchange(server.port, [headersMessage('1')]);
    assert.equal(good.status.code, 0);
    assert.equal(good.answers[0]?.response.case, 'requestHeaders');
  } finally {
    await server.close();
  }
});

/** A gRPC message frame (uncompressed). */
const grpcFrame = (message: Uint8Array): Buffer => {
  const f = Buffer.alloc(5 + message.length);
  f.writeUInt32BE(message.length, 1);
  f.set(message, 5);
  return f;
};

test('a client that streams body chunks and never reads the echoes is held back by flow control, not buffered for', { timeout: 15_000 }, async () => {
  const server = await startExtProcServer({ state, port: 0, host: '127.0.0.1', logger: pino({ level: 'silent' }) });
  const session = http2.connect(`http://127.0.0.1:${server.port}`);
  try {
    const stream = session.request({ ':method': 'POST', ':path': '/envoy.service.ext_proc.v3.ExternalProcessor/Process', 'content-type': 'application/grpc', te: 'trailers' });
    stream.pause(); // never reads keyway's answers
    stream.on('error', () => undefined);
    // No protocol_config: keyway assumes FULL_DUPLEX_STREAMED and echoes every chunk.
    stream.write(grpcFrame(toBinary(ProcessingRequestSchema, create(ProcessingRequestSchema, { request: { case: 'requestHeaders', value: { headers: { headers: [] } } } }))));
    const chunk = grpcFrame(toBinary(ProcessingRequestSchema, create(ProcessingRequestSchema, { request: { case: 'requestBody', value: { body: new Uint8Array(256 * 1024) } } })));
    const CAP = 64 * 1024 * 1024;
    let written = 0;
    while (written < CAP) {
      written += chunk.length;
      if (!stream.write(chunk)) {
        const drained = await new Promise<boolean>((resolve) => {
          const timer = setTimeout(() => resolve(false), 500);
          stream.once('drain', () => {
            clearTimeout(timer);
            resolve(true);
          });
        });
        if (!drained) break;
      }
    }
    // Without backpressure keyway took all 64 MiB and held their echoes; with it, a few windows' worth.
    assert.ok(written < 32 * 1024 * 1024, `the client wrote ${written} bytes without reading`);
  } finally {
    session.destroy();
    await server.close();
  }
});

test('close() tells health watchers NOT_SERVING and ends their calls, without waiting out the shutdown grace', { timeout: 10_000 }, async () => {
  const server = await startExtProcServer({ state, port: 0, host: '127.0.0.1', logger: pino({ level: 'silent' }) });
  const client = new Client(`127.0.0.1:${server.port}`, credentials.createInsecure());
  try {
    const watch = HEALTH_SERVICE.Watch!;
    const call = client.makeServerStreamRequest(watch.path, watch.requestSerialize, watch.responseDeserialize, { service: 'readiness' });
    const statuses: ServingStatus[] = [];
    const first = new Promise<void>((resolve) => call.once('data', () => resolve()));
    call.on('data', (s: ServingStatus) => statuses.push(s));
    call.on('error', () => undefined);
    const ended = new Promise<StatusObject>((resolve) => call.on('status', resolve));
    await first;
    const started = Date.now();
    await server.close();
    // The grace is 2 s: a watcher left open held close() for all of it, then saw CANCELLED.
    assert.ok(Date.now() - started < 1500, `close() took ${Date.now() - started} ms`);
    assert.equal((await ended).code, 0);
    assert.deepEqual(statuses, [ServingStatus.SERVING, ServingStatus.NOT_SERVING]);
  } finally {
    client.close();
    await server.close();
  }
});

test('close() ends a stream with no body under way at once, and lets one whose body passes through keyway finish', { timeout: 10_000 }, async () => {
  const server = await startExtProcServer({ state, port: 0, host: '127.0.0.1', logger: pino({ level: 'silent' }) });
  const client = new Client(`127.0.0.1:${server.port}`, credentials.createInsecure());
  const open = (): ProcessStream => openProcess(client);
  const message = (m: Parameters<typeof create<typeof ProcessingRequestSchema>>[1]) => Buffer.from(toBinary(ProcessingRequestSchema, create(ProcessingRequestSchema, m)));
  const headers = (endOfStream: boolean) => message({ request: { case: 'requestHeaders', value: { headers: { headers: [{ key: 'x-cache-shard', rawValue: new TextEncoder().encode('1') }] }, endOfStream } } });
  const body = (endOfStream: boolean) => message({ request: { case: 'requestBody', value: { body: new Uint8Array([7]), endOfStream } } });
  try {
    // No protocol_config: FULL_DUPLEX_STREAMED both ways, each chunk echoed.
    const uploading = open();
    const picked = uploading.next();
    uploading.call.write(headers(false));
    await picked;
    const waiting = open();
    const decided = waiting.next();
    waiting.call.write(headers(true)); // a GET: only its response is to come
    await decided;
    const closed = server.close();
    assert.equal((await waiting.status).code, 0, 'no body under way: ended at once');
    const echo = Promise.race([uploading.next(), uploading.status.then(() => undefined)]);
    uploading.call.write(body(false));
    assert.equal((await echo)?.response.case, 'requestBody', 'the upload goes on through keyway, not ended under it');
    const last = uploading.next();
    uploading.call.write(body(true));
    await last;
    assert.equal((await uploading.status).code, 0, 'ended once its body is over');
    assert.equal(uploading.answers.length, 3);
    await closed;
  } finally {
    client.close();
    await server.close();
  }
});

test('close() leaves a stream whose request headers have not come yet to get its answer before ending it', { timeout: 10_000 }, async () => {
  const server = await startExtProcServer({ state, port: 0, host: '127.0.0.1', logger: pino({ level: 'silent' }) });
  const client = new Client(`127.0.0.1:${server.port}`, credentials.createInsecure());
  try {
    // The stream opens (HTTP/2 HEADERS) and its first message is still on its way when keyway closes.
    const { call, answers, status } = openProcess(client);
    await new Promise((resolve) => setTimeout(resolve, 200));
    const closed = server.close();
    await new Promise((resolve) => setTimeout(resolve, 200));
    call.write(Buffer.from(headersMessage('1')));
    // Ended (OK) before its answer, the stream made Envoy send the request on with no pick.
    assert.equal((await status).code, 0);
    assert.equal(answers[0]?.response.case, 'requestHeaders', 'the pick went out before the stream ended');
    await closed;
  } finally {
    client.close();
    await server.close();
  }
});
