// The listener keyway gives Envoy must take IPv6 clients as well as IPv4 ones. On 0.0.0.0 it took
// IPv4 only: an application dialing the Envoy at `[::1]` or at its pod's IPv6 address (every
// client of a single-stack IPv6 cluster) was refused. Real Envoy runs the translated listener, as
// sent but for its port and with its routes inlined, and both loopbacks get an answer from it.
// Skipped when no Envoy binary is installed or the host has no IPv6 loopback.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { toJson } from '@bufbuild/protobuf';
import type { Listener } from '../../../src/xds/proto.js';
import { ListenerSchema } from '../../../src/xds/proto.js';
import type { ProxyClass } from '../../../src/xds/resources.js';
import { XDS_REGISTRY, translate } from '../../../src/xds/translator/index.js';
import { freePort } from '../../../e2e/support/ports.js';
import { batchCase, findEnvoy } from './envoy-batch.js';
import { computedInput, sixNodes } from './fixtures.js';

const envoy = findEnvoy();
const ENVOY: ProxyClass = { flavor: 'envoy', zone: '', subzone: '' };

async function hasIpv6Loopback(): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once('error', () => resolve(false));
    s.listen(0, '::1', () => s.close(() => resolve(true)));
  });
}

/** The status Envoy answers a GET without a shard header with (missingHeader reject: 400), or the connect error. */
function statusAt(host: string, port: number): Promise<number | string> {
  return new Promise((resolve) => {
    const req = request({ host, port, path: '/', timeout: 2000 }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
    req.end();
  });
}

async function until<T>(ms: number, probe: () => Promise<T>, done: (v: T) => boolean): Promise<T> {
  const end = Date.now() + ms;
  let v = await probe();
  while (!done(v) && Date.now() < end) {
    await new Promise((r) => setTimeout(r, 100));
    v = await probe();
  }
  return v;
}

test('Envoy\'s listener answers IPv4 and IPv6 clients (one dual-stack socket, not 0.0.0.0)', { skip: envoy === undefined ? 'no envoy binary (scripts/install-envoy.sh)' : false, timeout: 60_000 }, async (t) => {
  if (!(await hasIpv6Loopback())) return t.skip('no IPv6 loopback');
  const port = await freePort();
  const set = translate(computedInput(sixNodes(), { shardCount: 8, replicas: 2, spread: 'none' }, { listenerPort: port, missingHeader: 'reject' }), ENVOY);
  const sent = toJson(ListenerSchema, set.listener[0]!.message as Listener, { registry: XDS_REGISTRY }) as { address: { socketAddress: Record<string, unknown> } };
  const c = batchCase(set, 'c-', port);
  // The listener as keyway sends it, its address included (batchCase puts it on 127.0.0.1).
  c.listeners[0]!.address = { socketAddress: { ...sent.address.socketAddress, portValue: port } };
  const dir = mkdtempSync(join(tmpdir(), 'keyway-listener-'));
  const file = join(dir, 'bootstrap.json');
  writeFileSync(file, JSON.stringify({ node: { id: 'listener-address', cluster: 'keyway' }, staticResources: { listeners: c.listeners, clusters: c.clusters } }));
  const proc = spawn(envoy!, ['-c', file, '--use-dynamic-base-id', '--log-level', 'critical'], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  proc.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  try {
    const v4 = await until(20_000, () => statusAt('127.0.0.1', port), (s) => s === 400);
    assert.equal(v4, 400, `IPv4 client: ${stderr}`);
    assert.equal(await statusAt('::1', port), 400, 'IPv6 client');
  } finally {
    proc.kill('SIGTERM');
    await new Promise((r) => proc.once('exit', r));
    rmSync(dir, { recursive: true, force: true });
  }
});
