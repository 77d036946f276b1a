/**
 * docs/security.md "TLS and mTLS for xDS": a connection to the TLS xDS port has
 * XDS_TLS_HANDSHAKE_TIMEOUT_MS (10 s) to finish its handshake, then it is closed. Before, Node's
 * default of 120 s held a client that connects and sends nothing (or half a ClientHello) for two
 * minutes, before grpc-js has a session to apply any of its limits to. A client that finishes the
 * handshake is not cut by it.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { connect as tcpConnect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { Server } from '@grpc/grpc-js';
import { pino } from 'pino';
import { KeywayError } from '../../src/core/errors.js';
import {
  loadXdsTlsCredentials,
  XDS_TLS_HANDSHAKE_TIMEOUT_ENV,
  XDS_TLS_HANDSHAKE_TIMEOUT_MS,
  xdsTlsHandshakeTimeoutMsFromEnv,
  type XdsTlsCredentials,
} from '../../src/xds/server/tls-credentials.js';
import { makePki, opensslSkipReason, type CertFiles, type TestPki } from '../support/certs.js';

const skip = opensslSkipReason();
/** The limit under test, short so the test is quick. */
const LIMIT_MS = 400;

/** Resolves with the ms from now until `socket` closes, or Infinity if it is still open after `waitMs`. */
function closesWithin(socket: Socket, waitMs: number): Promise<number> {
  const start = Date.now();
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(Infinity), waitMs);
    socket.on('error', () => undefined);
    // Flowing, so a close by the server (FIN) is seen as well as a reset.
    socket.resume();
    socket.once('close', () => {
      clearTimeout(timer);
      resolve(Date.now() - start);
    });
  });
}

async function bind(t: { after(fn: () => unknown): void }, tls: XdsTlsCredentials): Promise<number> {
  const server = new Server();
  t.after(() => server.forceShutdown());
  return new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', tls.credentials, (err, p) => (err ? reject(err) : resolve(p))));
}

describe('the TLS handshake timeout of the xDS port', { skip }, () => {
  let pki: TestPki;
  let leaf: CertFiles;
  let tls: XdsTlsCredentials;
  before(async () => {
    pki = makePki();
    leaf = pki.ca('ca').issue('leaf', { cn: 'keyway', ip: ['127.0.0.1'] });
    tls = await loadXdsTlsCredentials({ certFile: leaf.cert, keyFile: leaf.key, reloadIntervalMs: 3_600_000, handshakeTimeoutMs: LIMIT_MS }, pino({ level: 'silent' }));
  });
  after(() => {
    tls?.close();
    pki?.cleanup();
  });

  test('a TCP client that connects and sends nothing is closed at the limit', async (t) => {
    const port = await bind(t, tls);
    const socket = tcpConnect(port, '127.0.0.1');
    t.after(() => socket.destroy());
    await new Promise((r) => socket.once('connect', r));
    const ms = await closesWithin(socket, 5_000);
    assert.ok(ms < LIMIT_MS + 1_500, `closed ${ms} ms after connecting (limit ${LIMIT_MS} ms; Node's default is 120 s)`);
    assert.ok(ms >= LIMIT_MS - 100, `not before the limit: ${ms} ms`);
  });

  test('a client that sends half a ClientHello and stops is closed at the limit', async (t) => {
    const port = await bind(t, tls);
    const socket = tcpConnect(port, '127.0.0.1');
    t.after(() => socket.destroy());
    await new Promise((r) => socket.once('connect', r));
    // A TLS record header announcing a 512-byte handshake record, and 4 bytes of it.
    socket.write(Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc]));
    const ms = await closesWithin(socket, 5_000);
    assert.ok(ms < LIMIT_MS + 1_500, `closed ${ms} ms after connecting`);
  });

  test('a client that finishes the handshake is not cut by the limit', async (t) => {
    const port = await bind(t, tls);
    const socket = tlsConnect({ host: '127.0.0.1', port, rejectUnauthorized: false, ALPNProtocols: ['h2'] });
    t.after(() => socket.destroy());
    await new Promise((r) => socket.once('secureConnect', r));
    assert.equal(socket.alpnProtocol, 'h2');
    // The HTTP/2 preface: a client that speaks, then sits idle past the handshake limit.
    socket.write('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n' + '\u0000\u0000\u0000\u0004\u0000\u0000\u0000\u0000\u0000');
    assert.equal(await closesWithin(socket, LIMIT_MS * 3), Infinity, 'still open three times the limit later');
  });

  test(`the default is ${XDS_TLS_HANDSHAKE_TIMEOUT_MS / 1000} s, handed to the TLS server through grpc-js`, async () => {
    assert.equal(XDS_TLS_HANDSHAKE_TIMEOUT_MS, 10_000);
    const byDefault = await loadXdsTlsCredentials({ certFile: leaf.cert, keyFile: leaf.key, reloadIntervalMs: 3_600_000 }, pino({ level: 'silent' }));
    try {
      // grpc-js spreads these options into http2.createSecureServer (server.ts createHttp2Server).
      assert.equal(byDefault.credentials._getConstructorOptions()?.handshakeTimeout, XDS_TLS_HANDSHAKE_TIMEOUT_MS);
    } finally {
      byDefault.close();
    }
  });

  test(`${XDS_TLS_HANDSHAKE_TIMEOUT_ENV} overrides the default; a malformed value stops the start with its name`, async (t) => {
    assert.equal(xdsTlsHandshakeTimeoutMsFromEnv({}), XDS_TLS_HANDSHAKE_TIMEOUT_MS);
    assert.equal(xdsTlsHandshakeTimeoutMsFromEnv({ [XDS_TLS_HANDSHAKE_TIMEOUT_ENV]: '' }), XDS_TLS_HANDSHAKE_TIMEOUT_MS);
    assert.equal(xdsTlsHandshakeTimeoutMsFromEnv({ [XDS_TLS_HANDSHAKE_TIMEOUT_ENV]: '2500' }), 2500);
    for (const bad of ['0', '-5', '1.5', 'soon', '3000000000']) {
      assert.throws(
        () => xdsTlsHandshakeTimeoutMsFromEnv({ [XDS_TLS_HANDSHAKE_TIMEOUT_ENV]: bad }),
        (err: unknown) => err instanceof KeywayError && err.code === 'BAD_ARGUMENT' && err.message.includes(XDS_TLS_HANDSHAKE_TIMEOUT_ENV),
        bad,
      );
    }
    // loadXdsTlsCredentials reads the process's environment (keyway serve passes no such setting).
    const saved = process.env[XDS_TLS_HANDSHAKE_TIMEOUT_ENV];
    t.after(() => {
      if (saved === undefined) delete process.env[XDS_TLS_HANDSHAKE_TIMEOUT_ENV];
      else process.env[XDS_TLS_HANDSHAKE_TIMEOUT_ENV] = saved;
    });
    process.env[XDS_TLS_HANDSHAKE_TIMEOUT_ENV] = '2500';
    const fromEnv = await loadXdsTlsCredentials({ certFile: leaf.cert, keyFile: leaf.key, reloadIntervalMs: 3_600_000 }, pino({ level: 'silent' }));
    fromEnv.close();
    assert.equal(fromEnv.credentials._getConstructorOptions()?.handshakeTimeout, 2500);
    process.env[XDS_TLS_HANDSHAKE_TIMEOUT_ENV] = 'soon';
    await assert.rejects(
      loadXdsTlsCredentials({ certFile: leaf.cert, keyFile: leaf.key }, pino({ level: 'silent' })),
      (err: unknown) => err instanceof KeywayError && err.code === 'BAD_ARGUMENT',
    );
  });
});
