/**
 * A real proxyless client (@grpc/grpc-js-xds, its own file: it reads its bootstrap once per process)
 * and the `complete` flag of its ACKs (docs/xds-protocol.md "When a change has converged"): a new
 * route to a new cluster is ACKed before the client fetches that cluster and its endpoints, and
 * only the ACK that completes the fetch says the client holds its whole configuration.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Client, credentials } from '@grpc/grpc-js';
import * as xds from '@grpc/grpc-js-xds';
import { startHarness } from '../../support/xds-client/harness.js';
import { eventually } from '../../support/eventually.js';
import { untilAnswer, whoBackend as backend } from '../../support/grpc-who.js';
import type { MiniTopology } from '../../support/xds-client/resources.js';
import type { AckEvent } from '../../../src/xds/server/index.js';

test('grpc-js-xds: an ACK says the client holds its whole configuration only once it fetched the clusters and endpoints its new routes use', async (t) => {
  const a = await backend('node-a');
  const b = await backend('node-b');
  t.after(() => Promise.all([a.close(), b.close()]));
  const topo = (withShard2: boolean): MiniTopology => ({
    clusters: withShard2 ? { 'shard-0': [a.port], 'shard-2': [b.port] } : { 'shard-0': [a.port] },
    listener: 'cache.svc',
    route: 'cache-route',
    routeCluster: 'shard-0',
    shardRoutes: withShard2 ? { '2': 'shard-2' } : {},
  });
  const acks: AckEvent[] = [];
  const h = await startHarness(topo(false), { events: { acked: (e) => void acks.push(e) } });
  t.after(() => h.close());
  process.env.GRPC_XDS_BOOTSTRAP_CONFIG = JSON.stringify({
    xds_servers: [{ server_uri: `127.0.0.1:${h.server.port}`, channel_creds: [{ type: 'insecure' }], server_features: ['xds_v3'] }],
    node: { id: 'grpc-closure', locality: { zone: 'z1', sub_zone: 'nvl-1' } },
  });
  xds.register();
  const client = new Client('xds:///cache.svc', credentials.createInsecure());
  t.after(() => client.close());
  await untilAnswer(client, '2', 'node-a');
  await eventually('initial sync complete', () => acks.some((e) => e.complete === true));
  const before = acks.length;

  // New route to a new cluster: the client ACKs the routes first, then fetches shard-2 and its endpoints.
  h.set(topo(true));
  await untilAnswer(client, '2', 'node-b');
  await eventually('an ACK says the configuration is whole again', () => acks.slice(before).some((e) => e.complete === true));
  const after = acks.slice(before);
  const whole = after.findIndex((e) => e.complete === true);
  assert.ok(after.every((e) => e.complete !== undefined), 'every ACK of a gRPC client says whether it is whole');
  assert.ok(after.slice(0, whole).some((e) => e.kind === 'route' && e.complete === false), 'the routes were ACKed before the new cluster was held');
  assert.ok(after.slice(0, whole + 1).some((e) => e.kind === 'cluster'), 'the new cluster was ACKed before');
  assert.equal(after[whole]!.kind, 'endpoint', 'whole with the ACK of the new endpoints');
  const row = h.server.proxy('grpc-closure')!;
  assert.ok(row.types.cluster!.subscribed.names.includes('shard-2'));
  assert.ok(row.types.endpoint!.subscribed.names.includes('shard-2'));
});
