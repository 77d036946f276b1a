/**
 * `XdsTlsCredentials.served()`: the validity of the server certificate in use, which an expiry
 * gauge reads. It follows a rotation that loads and stays on the certificate in use when one is
 * refused (a key that does not match), so it tells what clients are shown, not what the files hold.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { copyFileSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { pino } from 'pino';
import { loadXdsTlsCredentials } from '../../../src/xds/server/tls-credentials.js';
import { makePki, opensslSkipReason, type TestPki } from '../../support/certs.js';

const skip = opensslSkipReason();

function validity(file: string): { notBeforeMs: number; notAfterMs: number } {
  const x = new X509Certificate(readFileSync(file));
  return { notBeforeMs: Date.parse(x.validFrom), notAfterMs: Date.parse(x.validTo) };
}

describe('the served certificate of the xDS TLS credentials', { skip }, () => {
  let pki: TestPki;
  before(() => {
    pki = makePki();
  });
  after(() => pki?.cleanup());

  test('follows a rotation that loads, and not one that is refused', async (t) => {
    const first = pki.ca('ca').issue('first', { cn: 'keyway-1', dns: ['localhost'] }); // valid 2 days
    const secondCert = path.join(pki.dir, 'second.crt');
    const secondKey = path.join(pki.dir, 'second.key');
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '30', '-subj', '/CN=keyway-2', '-keyout', secondKey, '-out', secondCert], { stdio: 'ignore' });
    const certFile = path.join(pki.dir, 'tls.crt');
    const keyFile = path.join(pki.dir, 'tls.key');
    copyFileSync(first.cert, certFile);
    copyFileSync(first.key, keyFile);
    const tls = await loadXdsTlsCredentials({ certFile, keyFile, reloadIntervalMs: 3_600_000 }, pino({ level: 'silent' }));
    t.after(() => tls.close());
    assert.deepEqual(tls.served(), validity(first.cert));

    copyFileSync(secondCert, certFile); // the key not yet written: refused
    assert.equal(await tls.reload(), false);
    assert.deepEqual(tls.served(), validity(first.cert));

    copyFileSync(secondKey, keyFile);
    assert.equal(await tls.reload(), true);
    assert.deepEqual(tls.served(), validity(secondCert));
    assert.ok(tls.served().notAfterMs - Date.now() > 29 * 86_400_000);
  });
});
