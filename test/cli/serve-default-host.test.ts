/**
 * `keyway serve` without --host binds every interface in both address families where the host
 * has IPv6 (src/cli/args.ts anyAddress): proxies reach the xDS port over IPv4 and over IPv6, and
 * in a pod (KUBERNETES_SERVICE_HOST set) the kubelet's probes reach the REST API over either. On
 * 0.0.0.0 alone, an IPv6 proxy or probe was refused.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { connect } from 'node:net';
import { tempTopology } from '../serve/support.js';
import { ONE_NODE_TOPOLOGY, startServe } from './support.js';

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
  const topo = await tempTopology(ONE_NODE_TOPOLOGY);
  t.after(() => topo.cleanup());
  // KUBERNETES_SERVICE_HOST alone: the REST API's default in a pod. The file source serves.
  const env = { KUBERNETES_SERVICE_HOST: '10.96.0.1', KEYWAY_HOST: '', KEYWAY_ADMIN_HOST: '' };
  const { child, exited, listening } = await startServe(topo.file, ['--http-port', '0', '--xds-port', '0', '--ext-proc-port', 'off'], t, env);
  assert.equal(listening.host, '::');
  assert.equal(listening.adminHost, '::');
  for (const port of [listening.xdsPort, listening.httpPort]) {
    assert.ok(await accepts('127.0.0.1', port), `IPv4 client refused on port ${port}`);
    assert.ok(await accepts('::1', port), `IPv6 client refused on port ${port}`);
  }
  const res = await fetch(`http://[::1]:${listening.httpPort}/healthz`, { signal: AbortSignal.timeout(5000) });
  assert.equal(res.status, 200);
  child.kill('SIGTERM');
  assert.deepEqual(await exited, [0, null]);
});
