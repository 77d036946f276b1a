/**
 * The shipped Envoy bootstraps' link to keyway (examples/envoy-bootstrap.yaml, the gateway's
 * manifests/examples/envoy-gateway/envoy.yaml): keyway's pings tell keyway that Envoy is gone, not
 * Envoy that keyway is. A replica that vanishes without a FIN (node lost, a load balancer dropping
 * the flow) must be noticed by Envoy's own HTTP/2 keepalive, or its ADS stream waits on a dead
 * connection and never gets another update. Real Envoy, the file's keyway_xds cluster with its
 * keepalive scaled to 1 s, through a relay that stops forwarding.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { parse } from 'yaml';
import { envoySkipReason, startEnvoy } from '../../../e2e/support/envoy.js';
import { SnapshotCache } from '../../../src/xds/cache/index.js';
import { startXdsServer } from '../../../src/xds/server/xds-server.js';
import { miniSet } from '../../support/xds-client/resources.js';

interface Relay { readonly port: number; accepted: number; blackhole(): void; close(): void }

/** A TCP relay to `port` counting the connections it accepts; `blackhole` stops forwarding on those open (no FIN, no RST). */
async function relay(port: number): Promise<Relay> {
  const sockets: net.Socket[] = [];
  const dead = new Set<net.Socket>();
  const server = net.createServer((down) => {
    r.accepted++;
    const up = net.connect(port, '127.0.0.1');
    sockets.push(down, up);
    down.on('data', (b) => !dead.has(down) && up.write(b));
    up.on('data', (b) => !dead.has(down) && down.write(b));
    down.on('error', () => undefined);
    up.on('error', () => undefined);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const r: Relay = {
    port: (server.address() as net.AddressInfo).port,
    accepted: 0,
    blackhole: () => sockets.forEach((s) => dead.add(s)),
    close: () => {
      sockets.forEach((s) => s.destroy());
      server.close();
    },
  };
  return r;
}

interface Cluster { name: string; type?: string; load_assignment: { endpoints: { lb_endpoints: { endpoint: { address: { socket_address: { address: string; port_value: number } } } }[] }[] }; typed_extension_protocol_options?: Record<string, { explicit_http_config?: { http2_protocol_options?: { connection_keepalive?: Record<string, string> } } }> }

/** The file's keyway_xds cluster aimed at `port`, any HTTP/2 keepalive scaled to 1 s. */
function keywayCluster(file: string, port: number): Cluster {
  const bootstrap = parse(readFileSync(file, 'utf8')) as { static_resources: { clusters: Cluster[] } };
  const cluster = structuredClone(bootstrap.static_resources.clusters.find((c) => c.name === 'keyway_xds'));
  assert.ok(cluster, `${file} has no keyway_xds cluster`);
  cluster.type = 'STATIC';
  cluster.load_assignment.endpoints = [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: '127.0.0.1', port_value: port } } } }] }];
  for (const o of Object.values(cluster.typed_extension_protocol_options ?? {})) {
    const keepalive = o.explicit_http_config?.http2_protocol_options?.connection_keepalive;
    if (keepalive) Object.assign(keepalive, { interval: '1s', timeout: '1s' });
  }
  return cluster;
}

const skip = envoySkipReason();

for (const file of ['examples/envoy-bootstrap.yaml', 'manifests/examples/envoy-gateway/envoy.yaml']) {
  test(`${file}: Envoy leaves a keyway connection that went silent and reconnects`, { skip, timeout: 40_000 }, async (t) => {
    const cache = new SnapshotCache({ build: () => miniSet({ clusters: { c0: [9001] } }), checkConsistency: () => [] });
    const keyway = await startXdsServer({ cache, port: 0, host: '127.0.0.1' });
    t.after(() => keyway.close());
    const path = await relay(keyway.port);
    t.after(() => path.close());
    const envoy = await startEnvoy({
      bootstrap: {
        node: { id: 'envoy-keepalive', cluster: 'keyway-cache' },
        dynamic_resources: { ads_config: { api_type: 'GRPC', transport_api_version: 'V3', grpc_services: [{ envoy_grpc: { cluster_name: 'keyway_xds' } }] }, cds_config: { ads: {}, resource_api_version: 'V3' } },
        static_resources: { clusters: [keywayCluster(file, path.port)] },
      },
      waitReady: false,
    });
    t.after(() => envoy.stop());
    await envoy.waitForStat('control_plane.connected_state', (v) => v === 1, { timeoutMs: 15_000 });
    assert.equal(path.accepted, 1);
    path.blackhole();
    // Scaled keepalive: 1 s to the ping, 1 s to its answer, then Envoy's reconnect backoff.
    const deadline = Date.now() + 10_000;
    while (path.accepted < 2 && Date.now() < deadline) await sleep(100);
    assert.ok(path.accepted >= 2, `Envoy stayed on the silent connection (${path.accepted} connection(s) in 10 s)\n${envoy.logTail(10)}`);
  });
}
