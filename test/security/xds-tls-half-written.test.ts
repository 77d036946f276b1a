/**
 * xDS TLS files caught half-written (src/xds/server/tls-credentials.ts): OpenSSL loads the PEM
 * blocks of a bundle up to one cut short and drops the rest without an error, so a client CA bundle
 * read mid-write was taken, and keyway trusted only the CAs before the cut. A file with a block cut
 * short is refused like any file that does not load: at start it stops the start, on a reload the
 * previous set stays (docs/security.md "TLS and mTLS for xDS", Rotation).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { connect } from 'node:tls';
import { Server } from '@grpc/grpc-js';
import { pino } from 'pino';
import { loadXdsTlsCredentials } from '../../src/xds/server/tls-credentials.js';
import { makePki, opensslSkipReason, type CertFiles, type TestCa, type TestPki } from '../support/certs.js';

const skip = opensslSkipReason();

/** Whether a client holding `client` completes an mTLS exchange with 127.0.0.1:port (TLS 1.3 refuses the client certificate after the handshake, so the test waits for the server's verdict). */
function clientAccepted(port: number, serverCa: string, client: CertFiles): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port, ca: readFileSync(serverCa), cert: readFileSync(client.cert), key: readFileSync(client.key), ALPNProtocols: ['h2'] });
    // A server that refused the certificate sends an alert; one that took it waits for the HTTP/2 preface.
    const timer = setTimeout(() => {
      socket.destroy();
      resolve(true);
    }, 500);
    socket.on('error', () => {
      clearTimeout(timer);
      resolve(false);
    });
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(false);
    });
  });
}

describe('xDS TLS files caught half-written', { skip }, () => {
  let pki: TestPki;
  let ca1: TestCa;
  let ca2: TestCa;
  let server: CertFiles;
  before(() => {
    pki = makePki();
    ca1 = pki.ca('ca1');
    ca2 = pki.ca('ca2');
    server = ca1.issue('server', { cn: 'keyway', ip: ['127.0.0.1'] });
  });
  after(() => pki?.cleanup());

  /** A CA bundle of ca2 then ca1, cut `back` characters before its end: ca1's block is cut short. */
  function cutBundle(back: number): string {
    const bundle = readFileSync(ca2.cert, 'latin1') + readFileSync(ca1.cert, 'latin1');
    return bundle.slice(0, bundle.length - back);
  }

  test('a client CA bundle cut short is refused on a reload; the clients of every CA of the previous bundle stay served', async (t) => {
    const client1 = ca1.issue('client1', { cn: 'node-1' });
    const caFile = path.join(pki.dir, 'client-ca-reload.crt');
    copyFileSync(ca1.cert, caFile);
    const lines: string[] = [];
    const tls = await loadXdsTlsCredentials(
      { certFile: server.cert, keyFile: server.key, clientCaFile: caFile, reloadIntervalMs: 3_600_000 },
      pino({ level: 'info' }, { write: (l: string) => void lines.push(l) }),
    );
    const grpc = new Server();
    t.after(() => {
      tls.close();
      grpc.forceShutdown();
    });
    const port = await new Promise<number>((resolve, reject) => grpc.bindAsync('127.0.0.1:0', tls.credentials, (err, p) => (err ? reject(err) : resolve(p))));
    assert.equal(await clientAccepted(port, ca1.cert, client1), true, 'before: ca1 clients are served');

    // The rotation to "ca2 then ca1" is caught with ca1's block half-written.
    for (const back of [30, 400]) {
      writeFileSync(caFile, cutBundle(back));
      assert.equal(await tls.reload(), false, `a bundle cut ${back} characters short is not loaded`);
      assert.equal(await clientAccepted(port, ca1.cert, client1), true, `cut ${back} short: ca1 clients are still served`);
    }
    assert.ok(lines.some((l) => l.includes('cannot reload the xDS TLS files') && l.includes('cut short')), 'the refusal is logged');

    writeFileSync(caFile, cutBundle(0)); // the write completes
    assert.equal(await tls.reload(), true);
    assert.equal(await clientAccepted(port, ca1.cert, client1), true);
  });

  test('at start, a client CA bundle or a certificate chain cut short stops the start, naming the flag and file', async () => {
    const log = pino({ level: 'silent' });
    const caFile = path.join(pki.dir, 'client-ca-start.crt');
    writeFileSync(caFile, cutBundle(30));
    await assert.rejects(loadXdsTlsCredentials({ certFile: server.cert, keyFile: server.key, clientCaFile: caFile }, log), /--xds-tls-client-ca .*client-ca-start\.crt: a PEM block is cut short/);
    const chainFile = path.join(pki.dir, 'chain-start.crt');
    const chain = readFileSync(server.cert, 'latin1') + readFileSync(ca1.cert, 'latin1');
    writeFileSync(chainFile, chain.slice(0, chain.length - 1 - '-----END CERTIFICATE-----'.length + 9)); // cut inside the END line
    await assert.rejects(loadXdsTlsCredentials({ certFile: chainFile, keyFile: server.key }, log), /--xds-tls-cert .*chain-start\.crt: a PEM block is cut short/);
    // Whole files load: text outside the blocks (openssl's "Bag Attributes") is ignored, as OpenSSL does.
    writeFileSync(chainFile, `Bag Attributes\n    localKeyID: 01\nsubject=CN = keyway\n${chain}`);
    (await loadXdsTlsCredentials({ certFile: chainFile, keyFile: server.key }, log)).close();
  });
});
