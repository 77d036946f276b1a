// Why a read of the prometheus load source could not reach Prometheus: fetch() says only "fetch
// failed" and keeps the reason (refused, no such host, a certificate not trusted) in its cause,
// which the logged line (the error's message) would otherwise drop.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer as createHttpServer } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PrometheusLoadSource } from '../../../src/sources/load/index.js';

const W = 1_000;
const T0 = 1_700_000_000_000;

function source(url: string): PrometheusLoadSource {
  return new PrometheusLoadSource({ url, lagMs: 0, windowMs: () => W, now: () => T0 + 10 * W, timeoutMs: 2_000 });
}

test('a refused connection names ECONNREFUSED, not just "fetch failed"', async (t) => {
  // A port that was just free: nothing listens on it.
  const probe = createHttpServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const port = (probe.address() as AddressInfo).port;
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  const src = source(`http://127.0.0.1:${port}`);
  t.after(() => src.close());
  await assert.rejects(src.latest(4), (err: Error) => {
    assert.match(err.message, new RegExp(`^load snapshots from Prometheus http://127\\.0\\.0\\.1:${port}: .*ECONNREFUSED`));
    return true;
  });
});

test('an https Prometheus whose certificate is not trusted names the certificate error', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'keyway-prom-tls-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  execFileSync('openssl', [
    'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=127.0.0.1',
    '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'),
  ], { stdio: 'ignore' });
  const server = createHttpsServer({ key: readFileSync(join(dir, 'key.pem')), cert: readFileSync(join(dir, 'cert.pem')) }, (_req, res) => res.end('{}'));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise<void>((r) => server.close(() => r())));
  const src = source(`https://127.0.0.1:${(server.address() as AddressInfo).port}`);
  t.after(() => src.close());
  await assert.rejects(src.latest(4), (err: Error) => {
    assert.match(err.message, /: .*(SELF_SIGNED|self-signed)/);
    return true;
  });
});

test('a 200 answer that is JSON but not an object is an unexpected answer, not a TypeError', async (t) => {
  const server = createHttpServer((_req, res) => res.end('null'));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise<void>((r) => server.close(() => r())));
  const src = source(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
  t.after(() => src.close());
  await assert.rejects(src.latest(4), /: unexpected answer: null$/);
});
