/**
 * grpc-js's own log in keyway's log (src/telemetry/grpc-log.ts). grpc-js writes a line to stderr
 * with `console.error` for each call whose metadata it refuses, the header quoted: any client of
 * the xDS port wrote to keyway's stderr at will, outside the log's bound, and with stderr's reader
 * stalled every line waited in memory.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:http2';
import { experimental, logVerbosity, Server, ServerCredentials, status, type ServiceDefinition } from '@grpc/grpc-js';
import { pino } from 'pino';
import { installGrpcLog, MAX_GRPC_LOG_CHARS } from '../../src/telemetry/index.js';

const ECHO: ServiceDefinition = {
  Echo: {
    path: '/test.Echo/Echo',
    requestStream: false,
    responseStream: false,
    requestSerialize: (b: Buffer) => b,
    requestDeserialize: (b: Buffer) => b,
    responseSerialize: (b: Buffer) => b,
    responseDeserialize: (b: Buffer) => b,
  },
};

/** A grpc-js server answering every call with UNIMPLEMENTED; closed after the test. */
async function echoServer(t: { after(fn: () => unknown): void }): Promise<number> {
  const server = new Server();
  server.addService(ECHO, { Echo: (_call: unknown, cb: (err: object) => void) => cb({ code: status.UNIMPLEMENTED }) });
  const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))));
  t.after(() => server.forceShutdown());
  return port;
}

/** Makes `n` calls carrying a header grpc-js refuses (its name has a `!`), each with its own value. */
async function callsWithBadMetadata(port: number, n: number, value: (i: number) => string = (i) => `v${i}`): Promise<void> {
  const session = connect(`http://127.0.0.1:${port}`);
  try {
    await Promise.all(
      Array.from({ length: n }, (_, i) => {
        const req = session.request({ ':method': 'POST', ':path': '/test.Echo/Echo', 'content-type': 'application/grpc', te: 'trailers', 'x!bad': value(i) });
        req.on('error', () => {});
        req.resume();
        req.end(Buffer.from([0, 0, 0, 0, 0]));
        return new Promise((resolve) => req.on('close', resolve));
      }),
    );
  } finally {
    session.close();
  }
}

/** console.error's calls while the test runs (grpc-js's own logger writes with it). */
function spyConsoleError(t: { after(fn: () => unknown): void }): unknown[][] {
  const calls: unknown[][] = [];
  const original = console.error;
  console.error = (...args: unknown[]) => void calls.push(args);
  t.after(() => (console.error = original));
  return calls;
}

test('calls with metadata grpc-js refuses: one warn line in the log per window, none on stderr', async (t) => {
  const stderr = spyConsoleError(t);
  const lines: string[] = [];
  let now = 0;
  const uninstall = installGrpcLog(pino({ level: 'info' }, { write: (s: string) => void lines.push(s) }), { now: () => now });
  t.after(uninstall);
  const port = await echoServer(t);
  await callsWithBadMetadata(port, 50);
  // Before: 50 lines on stderr, one per call, the client's header quoted in each.
  assert.deepEqual(stderr, []);
  assert.equal(lines.length, 1, lines.join(''));
  const first = JSON.parse(lines[0]!) as { level: number; msg: string; grpc: boolean };
  assert.equal(first.level, 40);
  assert.equal(first.grpc, true);
  assert.match(first.msg, /^Failed to add metadata entry x!bad: v0\./);
  // Past the window, the next one says how many were held back.
  now += 60_000;
  await callsWithBadMetadata(port, 1);
  assert.equal(lines.length, 2);
  const second = JSON.parse(lines[1]!) as { msg: string; grpcHeldBack: number };
  assert.equal(second.grpcHeldBack, 49);
  assert.match(second.msg, /\(49 more like it held back since the last such line\)$/);
});

test('a client varying the refused header makes one kind: one line, and grpc-js\'s other errors still get theirs', async (t) => {
  spyConsoleError(t);
  const lines: string[] = [];
  const uninstall = installGrpcLog(pino({ level: 'info' }, { write: (s: string) => void lines.push(s) }), { now: () => 0 });
  t.after(uninstall);
  const port = await echoServer(t);
  // Letters, not digits (texts differing only in numbers were one kind already): a, b, ..., ez.
  const letters = (i: number): string => (i < 26 ? '' : letters(Math.floor(i / 26) - 1)) + String.fromCharCode(97 + (i % 26));
  await callsWithBadMetadata(port, 150, letters);
  // Before: 101 lines (one per value up to 100 kinds, then one for the rest), the error below held back.
  assert.equal(lines.length, 1, `${lines.length} lines`);
  experimental.log(logVerbosity.ERROR, 'No address added out of total 2 resolved');
  assert.equal(lines.length, 2);
  assert.match((JSON.parse(lines[1]!) as { msg: string }).msg, /^No address added/);
});

test('a long refused header value is cut, with its length', async (t) => {
  spyConsoleError(t);
  const lines: string[] = [];
  const uninstall = installGrpcLog(pino({ level: 'info' }, { write: (s: string) => void lines.push(s) }));
  t.after(uninstall);
  const port = await echoServer(t);
  await callsWithBadMetadata(port, 1, () => 'z'.repeat(12_000));
  assert.equal(lines.length, 1);
  const { msg } = JSON.parse(lines[0]!) as { msg: string };
  assert.ok(msg.length < MAX_GRPC_LOG_CHARS + 100, `a message of ${msg.length} characters`);
  assert.match(msg, /… \(\d+ characters, cut\)$/);
});

test('uninstalled: grpc-js writes to stderr again, as its own logger does', async (t) => {
  const stderr = spyConsoleError(t);
  installGrpcLog(pino({ level: 'silent' }))();
  const port = await echoServer(t);
  await callsWithBadMetadata(port, 2);
  assert.equal(stderr.length, 2);
  assert.match(String(stderr[0]![0]), /^E Failed to add metadata entry x!bad: v0\./);
});
