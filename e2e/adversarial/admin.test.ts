/**
 * The admin API's exposure (docs/security.md "The admin API"), against `keyway serve` as users run it:
 * - bind address: outside Kubernetes the REST API listens on 127.0.0.1 by default while xDS keeps
 *   `--host 0.0.0.0`, so another host cannot read `/debug/config_dump`; with KUBERNETES_SERVICE_HOST
 *   set (every pod) it listens on every interface, where the kubelet's probes come from;
 * - bearer token (`--admin-token-file`): `/v1` and `/debug` answer 401 with the error body (code
 *   UNAUTHENTICATED) without it or with a wrong one, unknown `/v1` routes too; `/healthz`, `/readyz`,
 *   `/metrics`, the page and `/openapi.json` stay open; the CLI (`--token`/KEYWAY_TOKEN), the
 *   client library and the web view (headless Chromium, token kept in sessionStorage) work with it.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { networkInterfaces, tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { httpRequest } from '../support/http.js';
import { startKeyway, type KeywayProcess } from '../support/keyway.js';
import { eventually } from '../../test/support/eventually.js';
import { ShardMapClient } from '../../src/client/index.js';
import { KeywayError } from '../../src/core/errors.js';

const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const CHROMIUM = process.env.KEYWAY_CHROMIUM ?? '/usr/bin/chromium';
const TOKEN = 'kw-test-7f3c9a1e5b2d4c6f8a0b';

/** An IPv4 address of this host other than loopback, to knock from "another host". */
function externalIPv4(): string | undefined {
  for (const list of Object.values(networkInterfaces())) {
    for (const a of list ?? []) if (a.family === 'IPv4' && !a.internal) return a.address;
  }
  return undefined;
}
const EXTERNAL = externalIPv4();

function topologyFile(dir: string): string {
  const file = path.join(dir, 'topology.yaml');
  writeFileSync(file, 'shards: 64\nreplicas: 1\nendpoints:\n  - {id: a, address: 127.0.0.1, port: 7500}\n  - {id: b, address: 127.0.0.1, port: 7501}\n');
  return file;
}

/** Whether a TCP connection to host:port is accepted. */
function accepts(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port, timeout: 3_000 });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('timeout', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', () => resolve(false));
  });
}

/** Runs the compiled CLI; resolves with its exit status and output. */
function cli(args: readonly string[], env: Record<string, string> = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [path.join(REPO_ROOT, 'bin', 'keyway.js'), ...args], { env: { ...process.env, KEYWAY_TOKEN: '', ...env } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

describe('admin bind address', () => {
  let dir: string;
  const running: KeywayProcess[] = [];
  before(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'keyway-admin-bind-'));
  });
  after(async () => {
    for (const k of running) await k.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  test('outside Kubernetes the REST API listens on 127.0.0.1 only, while xDS keeps --host 0.0.0.0', { skip: EXTERNAL ? undefined : 'no non-loopback IPv4 address' }, async () => {
    const k = await startKeyway({ configPath: topologyFile(dir), args: ['--host', '0.0.0.0'], env: { KUBERNETES_SERVICE_HOST: '' } });
    running.push(k);
    assert.equal((await httpRequest(`${k.httpUrl}/healthz`)).status, 200);
    assert.equal(await accepts(EXTERNAL!, k.httpPort), false, `the REST API answers on ${EXTERNAL}:${k.httpPort}`);
    assert.equal(await accepts(EXTERNAL!, k.xdsPort), true, `xDS does not answer on ${EXTERNAL}:${k.xdsPort}`);
    await k.stop();
  });

  test('in a Kubernetes pod (KUBERNETES_SERVICE_HOST set) it listens on every interface, for the probes', { skip: EXTERNAL ? undefined : 'no non-loopback IPv4 address' }, async () => {
    const k = await startKeyway({ configPath: topologyFile(dir), args: ['--host', '0.0.0.0'], env: { KUBERNETES_SERVICE_HOST: '10.96.0.1' } });
    running.push(k);
    assert.equal((await httpRequest(`http://${EXTERNAL}:${k.httpPort}/healthz`)).status, 200);
    await k.stop();
  });
});

describe('admin bearer token', () => {
  let dir: string;
  let keyway: KeywayProcess;
  before(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'keyway-admin-token-'));
    const tokenFile = path.join(dir, 'token');
    writeFileSync(tokenFile, `${TOKEN}\n`); // a Secret written with a newline still works
    keyway = await startKeyway({ configPath: topologyFile(dir), env: { KEYWAY_ADMIN_TOKEN_FILE: tokenFile } });
  });
  after(async () => {
    await keyway?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const get = (p: string, token?: string) =>
    httpRequest(`${keyway.httpUrl}${p}`, token === undefined ? {} : { headers: { authorization: `Bearer ${token}` } });

  test('/v1 and /debug answer 401 UNAUTHENTICATED without the token or with a wrong one', async () => {
    for (const [p, token] of [
      ['/v1/shardmap', undefined],
      ['/v1/shardmap', 'wrong'],
      ['/v1/shardmap', `${TOKEN}x`],
      ['/v1/proxies', undefined],
      ['/v1/lookup?key=k', undefined],
      ['/v1/no-such-route', undefined],
      ['/%761/shardmap', undefined], // the router decodes it to /v1/shardmap
      ['/v1', undefined],
      ['/debug/config_dump?proxy=x', undefined],
    ] as const) {
      const res = await get(p, token);
      assert.equal(res.status, 401, `${p} (${token ?? 'no token'}): ${res.body}`);
      const body = JSON.parse(res.body) as { error: { code: string; message: string } };
      assert.equal(body.error.code, 'UNAUTHENTICATED', p);
      assert.equal(typeof body.error.message, 'string');
      assert.match(String(res.headers['www-authenticate']), /^Bearer/);
      assert.ok(!res.body.includes('127.0.0.1'), `${p}: a 401 leaks an address`);
    }
  });

  test('with the token /v1 answers; probes, /metrics, the page and /openapi.json stay open', async () => {
    for (const p of ['/v1/shardmap', '/v1/proxies', '/v1/lookup?key=k']) assert.equal((await get(p, TOKEN)).status, 200, p);
    assert.equal((await get('/debug/config_dump?proxy=nobody', TOKEN)).status, 404);
    for (const p of ['/healthz', '/readyz', '/metrics', '/', '/web/app.js', '/openapi.json']) assert.equal((await get(p)).status, 200, p);
  });

  test('keyway status takes the token from --token or KEYWAY_TOKEN and says so when it is missing', async () => {
    const without = await cli(['status', '--server', keyway.httpUrl]);
    assert.equal(without.code, 1, without.stderr);
    assert.match(without.stderr, /401.*KEYWAY_TOKEN/s);
    const wrong = await cli(['status', '--server', keyway.httpUrl, '--token', 'nope']);
    assert.equal(wrong.code, 1);
    assert.match(wrong.stderr, /refused/);
    const viaEnv = await cli(['status', '--server', keyway.httpUrl], { KEYWAY_TOKEN: TOKEN });
    assert.equal(viaEnv.code, 0, viaEnv.stderr);
    assert.match(viaEnv.stdout, /ready/i);
    const viaFlag = await cli(['lookup', 'user:1', '--server', keyway.httpUrl, '--token', TOKEN, '-o', 'json']);
    assert.equal(viaFlag.code, 0, viaFlag.stderr);
  });

  test('the client library: UNAUTHENTICATED without the token, the map with it', async () => {
    await assert.rejects(ShardMapClient.connect({ baseUrl: keyway.httpUrl, pollIntervalMs: 0 }), (err: unknown) => err instanceof KeywayError && err.code === 'UNAUTHENTICATED');
    const client = await ShardMapClient.connect({ baseUrl: keyway.httpUrl, pollIntervalMs: 0, token: TOKEN });
    try {
      assert.equal(client.shardCount, 64);
    } finally {
      client.close();
    }
  });

  test('the web view asks for the token, keeps it for the tab and draws the map', { skip: existsSync(CHROMIUM) ? undefined : `Chromium not found at ${CHROMIUM}` }, async () => {
    const profile = mkdtempSync(path.join(tmpdir(), 'keyway-chromium-'));
    const context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
    try {
      const page = await context.newPage();
      await page.goto(`${keyway.httpUrl}/`);
      await page.locator('#token-form').waitFor({ state: 'visible', timeout: 15_000 });
      assert.equal(await page.evaluate(`document.getElementById('grid').dataset.cells ?? '0'`), '0', 'no map before the token');
      await page.fill('#token', TOKEN);
      await page.click('#token-form button');
      await eventually('the page to draw 64 cells', () => page.evaluate(`document.getElementById('grid').dataset.cells`) as Promise<string | undefined>, {
        accept: (v) => v === '64',
        timeoutMs: 15_000,
        intervalMs: 100,
      });
      assert.equal(await page.evaluate(`document.getElementById('token-form').hidden`), true);
      assert.equal(await page.evaluate(`sessionStorage.getItem('keyway.adminToken')`), TOKEN);
    } finally {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    }
  });
});
