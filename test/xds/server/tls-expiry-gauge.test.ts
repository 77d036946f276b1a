/**
 * The validity of the xDS server certificate in use: `XdsTlsCredentials.served()`, and the gauge
 * keyway_xds_tls_certificate_expiry_timestamp_seconds that reads it, what operators alert on
 * before the certificate expires (keyway logs only once it has). It follows a rotation that loads
 * and stays on the certificate in use when one is refused (a key that does not match), so it
 * tells what clients are shown, not what the files hold.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { copyFileSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { pino } from 'pino';
import { createKeywayMetrics, KEYWAY_METRICS as N } from '../../../src/telemetry/index.js';
import { loadXdsTlsCredentials } from '../../../src/xds/server/tls-credentials.js';
import { startXdsServer } from '../../../src/xds/server/xds-server.js';
import { SnapshotCache } from '../../../src/xds/cache/index.js';
import { parseExposition } from '../../telemetry/support/exposition.js';
import { makePki, opensslSkipReason, type TestPki } from '../../support/certs.js';

const skip = opensslSkipReason();

function validity(file: string): { notBeforeMs: number; notAfterMs: number } {
  const x = new X509Certificate(readFileSync(file));
  return { notBeforeMs: Date.parse(x.validFrom), notAfterMs: Date.parse(x.validTo) };
}

/** The files keyway reads (holding a first certificate, valid 2 days) and a second pair (30 days) to rotate to. */
function rotation(pki: TestPki) {
  const first = pki.ca('ca').issue('first', { cn: 'keyway-1', dns: ['localhost'] });
  const secondCert = path.join(pki.dir, 'second.crt');
  const secondKey = path.join(pki.dir, 'second.key');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '30', '-subj', '/CN=keyway-2', '-keyout', secondKey, '-out', secondCert], { stdio: 'ignore' });
  const certFile = path.join(pki.dir, 'tls.crt');
  const keyFile = path.join(pki.dir, 'tls.key');
  copyFileSync(first.cert, certFile);
  copyFileSync(first.key, keyFile);
  return { first, secondCert, secondKey, certFile, keyFile };
}

describe('the validity of the xDS TLS certificate in use', { skip }, () => {
  let pki: TestPki;
  before(() => {
    pki = makePki();
  });
  after(() => pki?.cleanup());

  test('served() follows a rotation that loads, and not one that is refused', async (t) => {
    const { first, secondCert, secondKey, certFile, keyFile } = rotation(pki);
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

  test('the gauge reports the notAfter of the certificate in use, and of a rotated one once loaded', async (t) => {
    const { first, secondCert, secondKey, certFile, keyFile } = rotation(pki);
    const cache = new SnapshotCache({ build: () => ({}) as never, checkConsistency: () => [] });
    const server = await startXdsServer({ cache, port: 0, host: '127.0.0.1', tls: { certFile, keyFile, reloadIntervalMs: 200 } });
    const m = createKeywayMetrics();
    const stop = m.observeXdsTlsCertificate(() => server.tlsCertificate());
    t.after(async () => {
      stop();
      await server.close();
    });
    const notAfterS = (file: string) => validity(file).notAfterMs / 1000;
    const gauge = async () => parseExposition(await m.render()).samples.find((s) => s.name === N.xdsTlsCertificateExpiry)?.value;
    assert.equal(await gauge(), notAfterS(first.cert));

    copyFileSync(secondCert, certFile);
    copyFileSync(secondKey, keyFile);
    const deadline = Date.now() + 5_000;
    while ((await gauge()) !== notAfterS(secondCert) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    assert.equal(await gauge(), notAfterS(secondCert));
  });
});
