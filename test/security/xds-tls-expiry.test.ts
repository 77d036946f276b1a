/**
 * Expired server certificates on the xDS port (src/xds/server/tls-credentials.ts): refused at
 * start, never rotated in over a valid one, and the certificate in use expiring is logged. Loaded,
 * an expired certificate made every new TLS handshake fail with nothing in keyway's log.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, writeFileSync } from 'node:fs';
import { connect } from 'node:tls';
import path from 'node:path';
import { Server } from '@grpc/grpc-js';
import { pino } from 'pino';
import { loadXdsTlsCredentials } from '../../src/xds/server/tls-credentials.js';
import { makePki, opensslSkipReason, type CertFiles, type TestCa, type TestPki } from '../support/certs.js';

const skip = opensslSkipReason();
const DAY_MS = 86_400_000;

/** The CN of the certificate served at 127.0.0.1:port, not checking its dates (what is served, not whether a client takes it). */
function servedCn(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port, rejectUnauthorized: false, ALPNProtocols: ['h2'] }, () => {
      const cn = socket.getPeerCertificate().subject.CN;
      socket.destroy();
      resolve(String(cn));
    });
    socket.on('error', reject);
  });
}

describe('expired xDS server certificates', { skip }, () => {
  let pki: TestPki;
  let ca: TestCa;
  let expired: CertFiles;
  before(() => {
    pki = makePki();
    ca = pki.ca('ca');
    // A leaf whose notAfter is a day before its notBefore (now): expired from the start.
    const key = path.join(pki.dir, 'expired.key');
    const csr = path.join(pki.dir, 'expired.csr');
    const cert = path.join(pki.dir, 'expired.crt');
    const ext = path.join(pki.dir, 'expired.ext');
    writeFileSync(ext, 'subjectAltName=DNS:localhost\n');
    for (const args of [
      ['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', key, '-out', csr, '-subj', '/CN=keyway-expired'],
      ['x509', '-req', '-in', csr, '-CA', ca.cert, '-CAkey', path.join(pki.dir, 'ca.key'), '-CAcreateserial', '-out', cert, '-days', '-1', '-extfile', ext],
    ]) {
      const r = spawnSync('openssl', args, { cwd: pki.dir, encoding: 'utf8', timeout: 20_000 });
      assert.equal(r.status, 0, r.stderr);
    }
    expired = { cert, key };
  });
  after(() => pki?.cleanup());

  /**
   * A valid certificate `name` copied to the files keyway serves (`served-<name>.crt`, `.key`, and
   * with `clientCa`, `served-<name>-client-ca.crt` holding `ca`), loaded with a clock the test moves;
   * the log lines. The issued files stay as they were, for copying back.
   */
  /**
   * Moves the clock past the certificate in use (valid two days) and reloads twice with the files
   * unchanged: the expiry is logged once. Returns that line.
   */
  async function expireInUse(clock: { ms: number }, lines: string[], tls: { reload(): Promise<boolean> }): Promise<string> {
    clock.ms += 3 * DAY_MS;
    lines.length = 0;
    assert.equal(await tls.reload(), false);
    assert.equal(await tls.reload(), false);
    const inUse = lines.filter((l) => l.includes('the xDS TLS certificate in use has expired'));
    assert.equal(inUse.length, 1, lines.join('\n'));
    return inUse[0]!;
  }

  async function served(t: { after(fn: () => void): void }, name: string, clientCa = false) {
    const valid = ca.issue(name, { cn: `keyway-${name}`, dns: ['localhost'] });
    const certFile = path.join(pki.dir, `served-${name}.crt`);
    const keyFile = path.join(pki.dir, `served-${name}.key`);
    const caFile = path.join(pki.dir, `served-${name}-client-ca.crt`);
    copyFileSync(valid.cert, certFile);
    copyFileSync(valid.key, keyFile);
    if (clientCa) copyFileSync(ca.cert, caFile);
    const lines: string[] = [];
    const logger = pino({ level: 'info' }, { write: (l: string) => void lines.push(l) });
    const clock = { ms: Date.now() };
    const tls = await loadXdsTlsCredentials({ certFile, keyFile, ...(clientCa ? { clientCaFile: caFile } : {}), reloadIntervalMs: 3_600_000, now: () => clock.ms }, logger);
    t.after(() => tls.close());
    return { valid, certFile, keyFile, caFile, lines, clock, tls };
  }

  test('an expired certificate stops the start with the flag, the file and the date', async () => {
    await assert.rejects(
      loadXdsTlsCredentials({ certFile: expired.cert, keyFile: expired.key }, pino({ level: 'silent' })),
      (err: Error) => {
        assert.match(err.message, /^--xds-tls-cert .*expired\.crt: the certificate expired on .*GMT/);
        return true;
      },
    );
  });

  test('a rotation to an expired certificate keeps the valid one; the one in use expiring is logged once', async (t) => {
    const { valid, certFile, keyFile, lines, clock, tls } = await served(t, 'valid');
    const renewed = ca.issue('renewed', { cn: 'keyway-renewed', dns: ['localhost'] });
    const server = new Server();
    t.after(() => server.forceShutdown());
    const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', tls.credentials, (err, p) => (err ? reject(err) : resolve(p))));
    assert.equal(await servedCn(port), 'keyway-valid');

    copyFileSync(expired.cert, certFile);
    copyFileSync(expired.key, keyFile);
    assert.equal(await tls.reload(), false, 'an expired certificate is not rotated in');
    assert.equal(await servedCn(port), 'keyway-valid');
    const refused = lines.filter((l) => l.includes('cannot reload the xDS TLS files; the previous certificate stays in use'));
    assert.equal(refused.length, 1);
    assert.match(refused[0]!, /the certificate expired on/);

    // Back to the valid files, then its own expiry passes (the clock moves past its two days).
    copyFileSync(valid.cert, certFile);
    copyFileSync(valid.key, keyFile);
    assert.equal(await tls.reload(), false);
    const inUse = await expireInUse(clock, lines, tls);
    assert.match(inUse, /--xds-tls-cert .*served-valid\.crt: the certificate in use expired on .*: TLS clients refuse new connections/);

    clock.ms = Date.now();
    copyFileSync(renewed.cert, certFile);
    copyFileSync(renewed.key, keyFile);
    assert.equal(await tls.reload(), true);
    assert.equal(await servedCn(port), 'keyway-renewed');
  });

  test('the certificate in use expiring is logged while the files hold an older expired one (a refused rotation did not hide it)', async (t) => {
    const { certFile, keyFile, lines, clock, tls } = await served(t, 'valid2');

    // A Secret restored from an old backup: refused and logged, the valid certificate stays.
    copyFileSync(expired.cert, certFile);
    copyFileSync(expired.key, keyFile);
    assert.equal(await tls.reload(), false);
    assert.equal(lines.filter((l) => l.includes('cannot reload the xDS TLS files')).length, 1);
    // Then the certificate in use expires too, with the files unchanged: said once.
    const inUse = await expireInUse(clock, lines, tls);
    assert.match(inUse, /served-valid2\.crt: the certificate in use expired on /);
  });

  test('a client CA rotation is taken while the server certificate is expired (the certificate served does not change)', async (t) => {
    const { caFile, lines, clock, tls } = await served(t, 'valid3', true);
    const other = pki.ca('other-ca');
    clock.ms += 3 * DAY_MS;
    copyFileSync(other.cert, caFile);
    assert.equal(await tls.reload(), true, 'the new client CA is used');
    assert.equal(lines.filter((l) => l.includes('cannot reload the xDS TLS files')).length, 0, lines.join('\n'));
    assert.equal(lines.filter((l) => l.includes('the xDS TLS certificate in use has expired')).length, 1, lines.join('\n'));
  });
});
