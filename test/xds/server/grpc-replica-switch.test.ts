/**
 * A real proxyless client (@grpc/grpc-js-xds, its own file: it reads its bootstrap once per process)
 * that reconnects to a keyway which serves other clusters than those its routes name (a restarted
 * keyway, or another replica, whose view moved on while the client was connected elsewhere).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Client, credentials } from '@grpc/grpc-js';
import * as xds from '@grpc/grpc-js-xds';
import { SnapshotCache } from '../../../src/xds/cache/index.js';
import { startXdsServer, type XdsServer } from '../../../src/xds/server/index.js';
import { checkConsistency } from '../../../src/xds/translator/index.js';
import { miniSet, type MiniTopology } from '../../support/xds-client/resources.js';
import { untilAnswer, who, whoBackend as backend } from '../../support/grpc-who.js';

async function keyway(topo: MiniTopology, port = 0): Promise<XdsServer> {
  const cache = new SnapshotCache({ build: () => miniSet(topo), checkConsistency });
  return startXdsServer({ cache, port, host: '127.0.0.1' });
}

/** Shards 0..shards-1 routed to `cluster` by header, the rest too (the catch-all). */
function routed(cluster: string, port: number, shards: number): MiniTopology {
  const shardRoutes: Record<string, string> = {};
  for (let s = 0; s < shards; s++) shardRoutes[String(s)] = cluster;
  return { clusters: { [cluster]: [port] }, listener: 'cache.svc', route: 'cache-route', routeCluster: cluster, shardRoutes };
}

test('grpc-js-xds reconnecting to a keyway that serves other clusters fails no call: routes move before clusters go', async (t) => {
  const a = await backend('node-a');
  const b = await backend('node-b');
  t.after(() => Promise.all([a.close(), b.close()]));
  const first = await keyway(routed('tuple-old', a.port, 4));
  const port = first.port;
  process.env.GRPC_XDS_BOOTSTRAP_CONFIG = JSON.stringify({
    xds_servers: [{ server_uri: `127.0.0.1:${port}`, channel_creds: [{ type: 'insecure' }], server_features: ['xds_v3'] }],
    node: { id: 'grpc-switch', locality: { zone: 'z1', sub_zone: 'nvl-1' } },
  });
  xds.register();
  const client = new Client('xds:///cache.svc', credentials.createInsecure());
  t.after(() => client.close());
  await untilAnswer(client, '2', 'node-a');

  // Calls keep going while the client moves to a keyway whose view routes the shard elsewhere.
  const failures: string[] = [];
  let answeredByB = false;
  let stop = false;
  const caller = async (): Promise<void> => {
    while (!stop) {
      try {
        if ((await who(client, '2')) === 'node-b') answeredByB = true;
      } catch (err) {
        failures.push((err as Error).message);
      }
    }
  };
  const callers = Array.from({ length: 8 }, caller);
  await first.close();
  const second = await keyway(routed('tuple-new', b.port, 4), port);
  t.after(() => second.close());
  const deadline = Date.now() + 20_000;
  while (!answeredByB && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  await new Promise((r) => setTimeout(r, 300));
  stop = true;
  await Promise.all(callers);
  assert.ok(answeredByB, 'the client follows the second keyway');
  assert.deepEqual(failures.slice(0, 3), [], `${failures.length} calls failed during the switch`);
});
