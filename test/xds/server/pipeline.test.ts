/**
 * The real pipeline behind the server: shard map (hash contract 2) → translator → snapshot cache →
 * xDS server, checked by the protocol client as Envoy and as a proxyless gRPC client would see it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { computeShardMap } from '../../../src/sharding/index.js';
import { DEFAULT_XDS_SETTINGS, type Topology } from '../../../src/core/settings.js';
import type { Endpoint } from '../../../src/core/endpoint.js';
import type { ShardingPolicy } from '../../../src/core/policy.js';
import { SnapshotCache } from '../../../src/xds/cache/index.js';
import { startXdsServer } from '../../../src/xds/server/index.js';
import { checkConsistency, effectiveProxyClass, translate, type TranslatorInput } from '../../../src/xds/translator/index.js';
import { referencedNames } from '../../../src/xds/cache/index.js';
import { XdsTestClient, type Received } from '../../support/xds-client/xds-client.js';
import { eventually } from '../../support/eventually.js';

const policy: ShardingPolicy = { shardCount: 16, replicas: 2, spread: 'zone' };

function nodes(count: number): Endpoint[] {
  return Array.from({ length: count }, (_, i) => ({
    id: `gpu-${i}`,
    address: `10.0.0.${i + 1}`,
    port: 8080,
    locality: { region: 'r', zone: `z${i % 3}`, subzone: `nvl-${i}` },
    weight: 1 + (i % 2),
    ready: true,
  }));
}

function input(endpoints: Endpoint[]): TranslatorInput {
  const topology: Topology = { policy, endpoints, xds: DEFAULT_XDS_SETTINGS };
  return { topology, shardMap: computeShardMap(endpoints, policy) };
}

test('translator output through the cache and server: consistent for Envoy and gRPC; an ownership change is EDS-only for Envoy', async (t) => {
  let current = input(nodes(6));
  const cache = new SnapshotCache({
    build: (cls) => translate(current, cls),
    checkConsistency,
    servedClass: effectiveProxyClass,
  });
  const server = await startXdsServer({ cache, port: 0, host: '127.0.0.1' });
  const clients: XdsTestClient[] = [];
  t.after(async () => {
    clients.forEach((c) => c.close());
    await server.close();
  });
  const connect = (id: string, userAgentName: string, zone: string) => {
    const c = new XdsTestClient({ port: server.port, node: { id, userAgentName, locality: { zone, subZone: `nvl-${zone}` } } });
    clients.push(c);
    return c;
  };

  // Envoy, the ADS order Envoy uses: CDS wildcard, EDS by the names clusters use, LDS wildcard, RDS by name.
  const envoy = connect('envoy-1', 'envoy', 'z1');
  envoy.request('cluster');
  const cds = await envoy.expect('cluster');
  envoy.ack('cluster');
  const edsNames = cds.resources.flatMap((r) => referencedNames(r.message));
  assert.ok(edsNames.length > 0);
  envoy.request('endpoint', edsNames);
  const eds = await envoy.expect('endpoint');
  assert.deepEqual(eds.resources.map((r) => r.name).sort(), [...edsNames].sort(), 'every EDS name used arrives');
  envoy.ack('endpoint');
  envoy.request('listener');
  const lds = await envoy.expect('listener');
  envoy.ack('listener');
  const rdsNames = lds.resources.flatMap((r) => referencedNames(r.message));
  envoy.request('route', rdsNames);
  const rds = await envoy.expect('route');
  assert.deepEqual(rds.resources.map((r) => r.name).sort(), [...rdsNames].sort(), 'every RDS name used arrives');
  envoy.ack('route');

  // A second Envoy elsewhere shares the one Envoy snapshot (the translator ignores Envoy locality).
  const envoy2 = connect('envoy-2', 'envoy', 'z2');
  envoy2.request('cluster');
  assert.equal((await envoy2.expect('cluster')).version, cds.version);
  await eventually('envoy-2 listed', () => server.proxy('envoy-2') !== undefined);
  assert.equal(server.proxy('envoy-1')!.proxyClass, 'envoy||');
  assert.equal(server.proxy('envoy-2')!.proxyClass, 'envoy||');

  // A proxyless gRPC client, the way grpc-js-xds asks: LDS by target name, then what it references.
  const grpc = connect('grpc-1', 'gRPC Node Pure JS', 'z0');
  grpc.request('listener', ['keyway-cache']);
  const glds = await grpc.expect('listener');
  assert.deepEqual(glds.resources.map((r) => r.name), ['keyway-cache']);
  grpc.ack('listener');
  const groutes = glds.resources.flatMap((r) => referencedNames(r.message));
  grpc.request('route', groutes);
  const grds = await grpc.expect('route');
  assert.equal(grds.resources.length, 1);
  grpc.ack('route');
  const gsnap = cache.snapshot({ flavor: 'grpc', zone: 'z0', subzone: 'nvl-z0' })!;
  const gclusters = [...gsnap.kinds.cluster.resources.keys()];
  grpc.request('cluster', gclusters);
  const gcds = await grpc.expect('cluster');
  assert.deepEqual(gcds.resources.map((r) => r.name).sort(), [...gclusters].sort());
  grpc.ack('cluster');
  const gedsNames = gcds.resources.flatMap((r) => referencedNames(r.message));
  grpc.request('endpoint', gedsNames);
  assert.equal((await grpc.expect('endpoint')).resources.length, gedsNames.length);
  grpc.ack('endpoint');

  // An ownership change (a node leaves): Envoy receives a new ClusterLoadAssignment and nothing else.
  const before = envoy.history.length;
  current = input(nodes(5));
  const report = cache.rebuild();
  assert.ok(report.classes.every((c) => !c.error), 'consistent');
  const moved: Received = await envoy.expect('endpoint');
  assert.notEqual(moved.version, eds.version);
  envoy.ack('endpoint');
  // The server's own record is authoritative: every push of the rebuild happened inside rebuild().
  await eventually('EDS ACK', () => server.proxy('envoy-1')?.types.endpoint!.versionAcked === moved.version);
  const row = server.proxy('envoy-1')!;
  assert.equal(row.types.cluster!.versionSent, cds.version, 'no CDS push');
  assert.equal(row.types.cluster!.status, 'SYNCED');
  assert.equal(row.types.listener!.versionSent, lds.version, 'no LDS push');
  assert.equal(row.types.route!.versionSent, rds.version, 'no RDS push');
  assert.deepEqual(envoy.history.slice(before).map((r) => r.kind), ['endpoint']);
});
