/**
 * docs/security.md "TLS and mTLS for xDS": `alpn_protocols: [h2]` is required of Envoy because
 * keyway's HTTP/2 server refuses a TLS client that does not offer h2. A client offering no ALPN,
 * or only http/1.1, gets no HTTP/2 session and its connection is closed.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:tls';
import { Server } from '@grpc/grpc-js';
import { pino } from 'pino';
import { loadXdsTlsCredentials, type XdsTlsCredentials } from '../../src/xds/server/tls-credentials.js';
import { makePki, opensslSkipReason, type TestPki } from '../support/certs.js';

const skip = opensslSkipReason();

/** What a TLS client offering `alpn` gets from 127.0.0.1:port before the connection closes. */
function attempt(port: number, alpn: string[] | undefined): Promise<{ negotiated: string | false | null; received: string; error?: string }> {
  return new Promise((resolve) => {
    let negotiated: string | false | null = null;
    let received = '';
    let error: string | undefined;
    const socket = connect({ host: '127.0.0.1', port, rejectUnauthorized: false, ...(alpn ? { ALPNProtocols: alpn } : {}) }, () => {
      negotiated = socket.alpnProtocol;
      socket.write('GET / HTTP/1.1\r\nHost: keyway\r\n\r\n');
    });
    socket.setTimeout(15_000, () => socket.destroy(new Error('still open after 15 s')));
    socket.on('data', (d: Buffer) => void (received += d.toString('latin1')));
    socket.on('error', (err) => void (error = err.message));
    socket.on('close', () => resolve({ negotiated, received, ...(error !== undefined ? { error } : {}) }));
  });
}

describe('the xDS port without ALPN h2', { skip }, () => {
  let pki: TestPki;
  let tls: XdsTlsCredentials;
  let server: Server;
  let port: number;
  before(async () => {
    pki = makePki();
    const leaf = pki.ca('ca').issue('leaf', { cn: 'keyway', dns: ['localhost'] });
    tls = await loadXdsTlsCredentials({ certFile: leaf.cert, keyFile: leaf.key }, pino({ level: 'silent' }));
    server = new Server();
    port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', tls.credentials, (err, p) => (err ? reject(err) : resolve(p))));
  });
  after(() => {
    tls?.close();
    server?.forceShutdown();
    pki?.cleanup();
  });

  test('a TLS client offering no ALPN is answered 403 and closed', async () => {
    const r = await attempt(port, undefined);
    assert.notEqual(r.negotiated, 'h2');
    assert.match(r.received, /^HTTP\/1\.[01] 403/);
    assert.equal(r.error, undefined, r.error);
  });

  test('a TLS client offering only http/1.1 fails the handshake (no_application_protocol)', async () => {
    const r = await attempt(port, ['http/1.1']);
    assert.equal(r.received, '');
    assert.match(r.error ?? '', /no application protocol/i);
  });
});
