/**
 * keyway_xds_tls_certificate_expiry_timestamp_seconds: the notAfter of the xDS server certificate
 * in use, what operators alert on before it expires (keyway logs only once it has). Served by a
 * real xDS server over TLS; it follows a rotation that loads.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { copyFileSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { createKeywayMetrics, KEYWAY_METRICS as N } from '../../../src/telemetry/index.js';
import { startXdsServer } from '../../../src/xds/server/xds-server.js';
import { SnapshotCache } from '../../../src/xds/cache/index.js';
import { parseExposition } from '../../telemetry/support/exposition.js';
import { makePki, opensslSkipReason, type TestPki } from '../../support/certs.js';

const skip = opensslSkipReason();
const notAfterS = (file: string) => Date.parse(new X509Certificate(readFileSync(file)).validTo) / 1000;

describe('the xDS TLS certificate expiry gauge', { skip }, () => {
  let pki: TestPki;
  before(() => {
    pki = makePki();
  });
  after(() => pki?.cleanup());

  test('reports the notAfter of the certificate in use, and of a rotated one once loaded', async (t) => {
    const first = pki.ca('ca').issue('first', { cn: 'keyway-1', dns: ['localhost'] });
    const secondCert = path.join(pki.dir, 'second.crt');
    const secondKey = path.join(pki.dir, 'second.key');
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '30', '-subj', '/CN=keyway-2', '-keyout', secondKey, '-out', secondCert], { stdio: 'ignore' });
    const certFile = path.join(pki.dir, 'tls.crt');
    const keyFile = path.join(pki.dir, 'tls.key');
    copyFileSync(first.cert, certFile);
    copyFileSync(first.key, keyFile);
    const cache = new SnapshotCache({ build: () => ({}) as never, checkConsistency: () => [] });
    const server = await startXdsServer({ cache, port: 0, host: '127.0.0.1', tls: { certFile, keyFile, reloadIntervalMs: 200 } });
    const m = createKeywayMetrics();
    const stop = m.observeXdsTlsCertificate(() => server.tlsCertificate());
    t.after(async () => {
      stop();
      await server.close();
    });
    const gauge = async () => parseExposition(await m.render()).samples.find((s) => s.name === N.xdsTlsCertificateExpiry)?.value;
    assert.equal(await gauge(), notAfterS(first.cert));

    copyFileSync(secondCert, certFile);
    copyFileSync(secondKey, keyFile);
    const deadline = Date.now() + 5_000;
    while ((await gauge()) !== notAfterS(secondCert) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    assert.equal(await gauge(), notAfterS(secondCert));
  });
});
