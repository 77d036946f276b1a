/**
 * The xDS server's TLS credentials (src/xds/server/tls-credentials.ts): files checked at start,
 * a rotated certificate served to new connections after a reload, a broken rotation logged and the
 * previous certificate kept. Certificates are made with openssl in a temp dir.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { connect } from 'node:tls';
import { readFileSync } from 'node:fs';
import { Server } from '@grpc/grpc-js';
import { pino } from 'pino';
import { loadXdsTlsCredentials } from '../../../src/xds/server/tls-credentials.js';
import { makePki, opensslSkipReason, type TestCa, type TestPki } from '../../support/certs.js';

const skip = opensslSkipReason();

/** The CN of the certificate a TLS client is shown at 127.0.0.1:port. */
function servedCn(port: number, ca: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port, ca: readFileSync(ca), servername: 'localhost', ALPNProtocols: ['h2'] }, () => {
      const cn = socket.getPeerCertificate().subject.CN;
      socket.destroy();
      resolve(Array.isArray(cn) ? cn.join(',') : String(cn));
    });
    socket.on('error', reject);
  });
}

describe('xDS TLS credentials', { skip }, () => {
  let pki: TestPki;
  let ca: TestCa;
  before(() => {
    pki = makePki();
    ca = pki.ca('ca');
  });
  after(() => pki?.cleanup());

  test('a rotated certificate is served to new connections; a broken rotation keeps the previous one', async (t) => {
    const first = ca.issue('first', { cn: 'keyway-1', dns: ['localhost'] });
    const second = ca.issue('second', { cn: 'keyway-2', dns: ['localhost'] });
    const certFile = path.join(pki.dir, 'tls.crt');
    const keyFile = path.join(pki.dir, 'tls.key');
    copyFileSync(first.cert, certFile);
    copyFileSync(first.key, keyFile);
    const lines: string[] = [];
    const logger = pino({ level: 'info' }, { write: (l: string) => void lines.push(l) });
    const tls = await loadXdsTlsCredentials({ certFile, keyFile, reloadIntervalMs: 3_600_000 }, logger);
    const server = new Server();
    t.after(() => {
      tls.close();
      server.forceShutdown();
    });
    const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', tls.credentials, (err, p) => (err ? reject(err) : resolve(p))));
    assert.equal(await servedCn(port, ca.cert), 'keyway-1');
    assert.equal(await tls.reload(), false, 'unchanged files are not reloaded');

    copyFileSync(second.cert, certFile);
    copyFileSync(second.key, keyFile);
    assert.equal(await tls.reload(), true);
    assert.equal(await servedCn(port, ca.cert), 'keyway-2');
    assert.ok(lines.some((l) => l.includes('xDS TLS certificate reloaded') && l.includes('keyway-2')));

    copyFileSync(first.key, keyFile); // the key of another certificate: half a rotation
    assert.equal(await tls.reload(), false);
    assert.equal(await servedCn(port, ca.cert), 'keyway-2');
    assert.ok(lines.some((l) => l.includes('cannot reload the xDS TLS files; the previous certificate stays in use')));
  });

  test('files that cannot be used stop the start with a message naming the flag and file', async () => {
    const leaf = ca.issue('leaf', { cn: 'k', dns: ['localhost'] });
    const other = ca.issue('other', { cn: 'o', dns: ['localhost'] });
    const log = pino({ level: 'silent' });
    await assert.rejects(loadXdsTlsCredentials({ certFile: path.join(pki.dir, 'missing.crt'), keyFile: leaf.key }, log), /--xds-tls-cert .*missing\.crt: cannot read: ENOENT/);
    const garbage = path.join(pki.dir, 'garbage.pem');
    writeFileSync(garbage, 'not a certificate\n');
    await assert.rejects(loadXdsTlsCredentials({ certFile: garbage, keyFile: leaf.key }, log), /--xds-tls-cert .*garbage\.pem: not a PEM certificate/);
    await assert.rejects(loadXdsTlsCredentials({ certFile: leaf.cert, keyFile: leaf.key, clientCaFile: garbage }, log), /--xds-tls-client-ca .*garbage\.pem: not a PEM certificate/);
    await assert.rejects(loadXdsTlsCredentials({ certFile: leaf.cert, keyFile: other.key }, log), /--xds-tls-cert .* and --xds-tls-key .*: .*(mismatch|does not match)/i);
  });
});
