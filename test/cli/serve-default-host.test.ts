/**
 * `keyway serve` without --host binds every interface in both address families where the host
 * has IPv6 (src/cli/args.ts anyAddress): proxies reach the xDS port over IPv4 and over IPv6, and
 * in a pod (KUBERNETES_SERVICE_HOST set) the kubelet's probes reach the REST API over either. On
 * 0.0.0.0 alone, an IPv6 proxy or probe was refused.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { connect } from 'node:net';
import { tempTopology } from '../serve/support.js';
import { CLI } from './support.js';

const TOPOLOGY = 'shards: 8\nreplicas: 1\nendpoints: [{id: a, address: 127.0.0.1, port: 7001}]\n';
const noIpv6 = process.platform === 'linux' && !existsSync('/proc/net/if_inet6');

/** Whether a TCP connection to host:port is accepted (bounded: 5 s). */
async function accepts(host: string, port: number): Promise<boolean> {
  const socket = connect({ host, port, timeout: 5000 });
  try {
    const [outcome] = await Promise.race([once(socket, 'connect').then(() => ['connected']), once(socket, 'error').then(() => ['refused']), once(socket, 'timeout').then(() => ['timeout'])]);
    return outcome === 'connected';
  } finally {
    socket.destroy();
  }
}

test('the default interfaces take IPv4 and IPv6 clients on the xDS port and, in a pod, on the REST API', { skip: noIpv6 ? 'the kernel has no IPv6' : false, timeout: 60_000 }, async (t) => {
  const topo = await tempTopology(TOPOLOGY);
  t.after(() => topo.cleanup());
  const args = ['serve', '--config', topo.file, '--http-port', '0', '--xds-port', '0', '--ext-proc-port', 'off'];
  // KUBERNETES_SERVICE_HOST alone: the REST API's default in a pod. The file source serves.
  const child = spawn(process.execPath, [...CLI, ...args], { env: { ...process.env, KUBERNETES_SERVICE_HOST: '10.96.0.1', KEYWAY_HOST: '', KEYWAY_ADMIN_HOST: '' }, stdio: ['ignore', 'pipe', 'pipe'] });
  t.after(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const deadline = Date.now() + 30_000;
  while (!stdout.includes('"msg":"listening"')) {
    if (Date.now() > deadline || child.exitCode !== null) throw new Error(`keyway did not listen; stderr: ${stderr}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  const listening = JSON.parse(stdout.split('\n').find((l) => l.includes('"msg":"listening"'))!) as { httpPort: number; xdsPort: number; host: string; adminHost: string };
  assert.equal(listening.host, '::');
  assert.equal(listening.adminHost, '::');
  for (const port of [listening.xdsPort, listening.httpPort]) {
    assert.ok(await accepts('127.0.0.1', port), `IPv4 client refused on port ${port}`);
    assert.ok(await accepts('::1', port), `IPv6 client refused on port ${port}`);
  }
  const res = await fetch(`http://[::1]:${listening.httpPort}/healthz`, { signal: AbortSignal.timeout(5000) });
  assert.equal(res.status, 200);
  child.kill('SIGTERM');
  assert.deepEqual(await once(child, 'exit'), [0, null]);
});
