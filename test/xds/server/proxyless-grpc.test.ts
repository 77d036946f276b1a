/**
 * A real proxyless client: @grpc/grpc-js-xds, bootstrapped to keyway's xDS server, dials
 * xds:///cache.svc and sends RPCs that the pushed routes and endpoints steer to local gRPC servers.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Client, credentials } from '@grpc/grpc-js';
import * as xds from '@grpc/grpc-js-xds';
import { startHarness } from '../../support/xds-client/harness.js';
import { eventually } from '../../support/eventually.js';
import { untilAnswer, who, whoBackend as backend } from '../../support/grpc-who.js';
import type { MiniTopology } from '../../support/xds-client/resources.js';

test('grpc-js-xds routes RPCs through keyway: listener, header routes, clusters, endpoints, and follows an EDS update', async (t) => {
  const a = await backend('node-a');
  const b = await backend('node-b');
  const c = await backend('node-c');
  t.after(() => Promise.all([a.close(), b.close(), c.close()]));
  const topo = (shard1Port: number): MiniTopology => ({
    clusters: { 'shard-0': [a.port], 'shard-1': [shard1Port] },
    listener: 'cache.svc',
    route: 'cache-route',
    routeCluster: 'shard-0',
    shardRoutes: { '1': 'shard-1' },
  });
  const h = await startHarness(topo(b.port));
  t.after(() => h.close());

  process.env.GRPC_XDS_BOOTSTRAP_CONFIG = JSON.stringify({
    xds_servers: [{ server_uri: `127.0.0.1:${h.server.port}`, channel_creds: [{ type: 'insecure' }], server_features: ['xds_v3'] }],
    node: { id: 'grpc-client-1', locality: { zone: 'z1', sub_zone: 'nvl-1' } },
  });
  xds.register();
  const client = new Client('xds:///cache.svc', credentials.createInsecure());
  t.after(() => client.close());

  await untilAnswer(client, '1', 'node-b');
  await untilAnswer(client, undefined, 'node-a');
  assert.equal(await who(client, '0'), 'node-a');

  // The client acknowledged all four types; keyway shows it as a proxyless gRPC proxy.
  await eventually('grpc client SYNCED on every type', () => {
    const row = h.server.proxy('grpc-client-1');
    return !!row && Object.values(row.types).every((x) => x.status === 'SYNCED');
  });
  const row = h.server.proxy('grpc-client-1')!;
  assert.equal(row.flavor, 'grpc');
  assert.match(row.userAgent, /^gRPC/);
  assert.equal(row.proxyClass, 'grpc|z1|nvl-1');
  assert.deepEqual(row.types.listener!.subscribed, { wildcard: false, names: ['cache.svc'], count: 1 });
  assert.deepEqual(row.types.endpoint!.subscribed.names, ['shard-0', 'shard-1']);
  const versions = h.versions({ flavor: 'grpc', zone: 'z1', subzone: 'nvl-1' });
  assert.equal(row.types.endpoint!.versionAcked, versions.endpoint);

  // Ownership of shard 1 moves to node-c: an endpoint-only update, and RPCs follow it.
  h.set(topo(c.port));
  await untilAnswer(client, '1', 'node-c');
  assert.equal(await who(client), 'node-a');
  await eventually('new EDS acknowledged', () => h.server.proxy('grpc-client-1')?.types.endpoint!.versionAcked === h.versions({ flavor: 'grpc', zone: 'z1', subzone: 'nvl-1' }).endpoint);
  const after = h.server.proxy('grpc-client-1')!;
  assert.equal(after.types.cluster!.versionAcked, row.types.cluster!.versionAcked, 'no CDS change');
  assert.equal(after.types.listener!.nonce, row.types.listener!.nonce, 'no LDS resend');
  assert.equal(after.types.route!.nonce, row.types.route!.nonce, 'no RDS resend');
});
