/**
 * `keyway serve` with its real stages in-process (the file source, sharding, translator, snapshot
 * cache, xDS server, admin REST, metrics): a protocol-checking client speaks ADS as Envoy does, a
 * topology edit that only moves ownership reaches it as an EDS-only push, and /v1/proxies,
 * /debug/config_dump and /metrics tell what was sent, acknowledged and rejected.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { toJson, type Message } from '@bufbuild/protobuf';
import { ClusterLoadAssignmentSchema, RouteConfigurationSchema } from '../../src/xds/proto.js';
import { referencedNames } from '../../src/xds/cache/index.js';
import { XDS_REGISTRY } from '../../src/xds/translator/index.js';
import { XdsTestClient, type Received } from '../support/xds-client/xds-client.js';
import { eventually } from '../support/eventually.js';
import type { ProxyRow, ShardMapBody } from '../support/rest-bodies.js';
import { fourNodeTopology, startKeywayInProcess } from '../support/keyway-in-process.js';

const FAST = { debounce: { holdOffMs: 20, maxDelayMs: 100 }, pollIntervalMs: 100 };
const SHARDS = 32;



/** Shard → the endpoint ids listing it at priority 0 and at priority 1, read from an Envoy ClusterLoadAssignment. */
function placement(cla: Message): Map<number, { p0: string[]; p1: string[] }> {
  const json = toJson(ClusterLoadAssignmentSchema, cla as never, { registry: XDS_REGISTRY }) as {
    endpoints: { priority?: number; lbEndpoints: { endpoint: { hostname: string }; metadata: { filterMetadata: Record<string, Record<string, string[]>> } }[] }[];
  };
  const out = new Map<number, { p0: string[]; p1: string[] }>();
  for (const group of json.endpoints) {
    for (const lb of group.lbEndpoints) {
      for (const s of lb.metadata.filterMetadata['envoy.lb']!['cache-shard']!) {
        const row = out.get(Number(s)) ?? { p0: [], p1: [] };
        (group.priority ? row.p1 : row.p0).push(lb.endpoint.hostname);
        out.set(Number(s), row);
      }
    }
  }
  return out;
}

test('keyway serve in-process: ADS to a checking client, EDS-only ownership change, /v1/proxies, NACK, config_dump, metrics', async (t) => {
  const { server, topo, clients } = await startKeywayInProcess(t, fourNodeTopology([10, 10, 10, 10]), { fileWatch: FAST });
  const xdsPort = server.listening.xdsPort;
  assert.ok(typeof xdsPort === 'number' && xdsPort > 0, 'the xDS port is reported in listening');
  const base = `http://127.0.0.1:${server.httpPort}`;
  const get = async <T>(path: string): Promise<{ status: number; body: T }> => {
    const res = await fetch(`${base}${path}`);
    return { status: res.status, body: (await res.json()) as T };
  };
  const proxyRow = async (id: string): Promise<ProxyRow | undefined> =>
    (await get<{ proxies: ProxyRow[] }>('/v1/proxies')).body.proxies.find((p) => p.id === id);
  const shardMap = async (): Promise<ShardMapBody> => (await get<ShardMapBody>('/v1/shardmap')).body;
  const newMap = async (from: string): Promise<ShardMapBody> => eventually('a new shard map', async () => {
    const m = await shardMap();
    return m.version !== from ? m : undefined;
  });

  assert.deepEqual((await get<{ proxies: unknown[] }>('/v1/proxies')).body, { proxies: [] });

  // Envoy's ADS order: CDS wildcard, EDS by the names clusters use, LDS wildcard, RDS by name.
  const envoy = new XdsTestClient({ port: xdsPort, node: { id: 'envoy-1', userAgentName: 'envoy', locality: { region: 'r', zone: 'z0', subZone: 'nvl-0' } } });
  clients.push(envoy);
  envoy.request('cluster');
  const cds = await envoy.expect('cluster');
  assert.deepEqual(cds.resources.map((r) => r.name), ['keyway-cache']);
  envoy.ack('cluster');
  const edsNames = cds.resources.flatMap((r) => referencedNames(r.message));
  envoy.request('endpoint', edsNames);
  const eds = await envoy.expect('endpoint');
  envoy.ack('endpoint');
  envoy.request('listener');
  const lds = await envoy.expect('listener');
  assert.deepEqual(lds.resources.map((r) => r.name), ['keyway-cache']);
  envoy.ack('listener');
  envoy.request('route', lds.resources.flatMap((r) => referencedNames(r.message)));
  const rds = await envoy.expect('route');
  assert.deepEqual(rds.resources.map((r) => r.name), ['keyway-cache']);
  envoy.ack('route');

  // What Envoy received routes every shard to its owners from /v1/shardmap: primary at priority 0, replica at 1.
  const map1 = await shardMap();
  const place1 = placement(eds.resources[0]!.message);
  for (const { shard, owners } of map1.shards) {
    assert.deepEqual(place1.get(shard)?.p0, [owners[0]], `shard ${shard}: primary at priority 0`);
    assert.deepEqual(place1.get(shard)?.p1, owners.slice(1), `shard ${shard}: replicas at priority 1`);
  }

  const synced = await eventually('envoy-1 SYNCED on every type', async () => {
    const row = await proxyRow('envoy-1');
    return row && Object.values(row.types).every((x) => x.status === 'SYNCED') ? row : undefined;
  });
  assert.equal(synced.flavor, 'envoy');
  assert.equal(synced.userAgent, 'envoy');
  assert.deepEqual(synced.locality, { region: 'r', zone: 'z0', subzone: 'nvl-0' });
  assert.ok(!Number.isNaN(Date.parse(synced.connectedSince)));
  assert.equal(synced.types.cluster!.versionAcked, cds.version);
  assert.equal(synced.types.endpoint!.versionAcked, eds.version);

  // config_dump: the resources the proxy was sent, per type, in canonical ProtoJSON.
  const dump = await get<{ configs: Record<string, unknown>[] }>('/debug/config_dump?proxy=envoy-1');
  assert.equal(dump.status, 200);
  assert.deepEqual(dump.body.configs.map((c) => c['@type']), [
    'type.googleapis.com/envoy.admin.v3.ClustersConfigDump',
    'type.googleapis.com/envoy.admin.v3.EndpointsConfigDump',
    'type.googleapis.com/envoy.admin.v3.ListenersConfigDump',
    'type.googleapis.com/envoy.admin.v3.RoutesConfigDump',
  ]);
  const [clustersDump, endpointsDump, listenersDump] = dump.body.configs as [
    { dynamicActiveClusters: { versionInfo: string; clientStatus: string; cluster: { '@type': string; name: string; lbSubsetConfig: unknown } }[] },
    { dynamicEndpointConfigs: { versionInfo: string; clientStatus: string; endpointConfig: { clusterName: string } }[] },
    { dynamicListeners: { name: string; activeState: { listener: { address: unknown } } }[] },
  ];
  assert.equal(clustersDump.dynamicActiveClusters.length, 1);
  assert.equal(clustersDump.dynamicActiveClusters[0]!.versionInfo, cds.version);
  assert.equal(clustersDump.dynamicActiveClusters[0]!.clientStatus, 'ACKED');
  assert.equal(clustersDump.dynamicActiveClusters[0]!.cluster['@type'], 'type.googleapis.com/envoy.config.cluster.v3.Cluster');
  assert.ok(clustersDump.dynamicActiveClusters[0]!.cluster.lbSubsetConfig, 'the subset-LB cluster');
  assert.equal(endpointsDump.dynamicEndpointConfigs[0]!.endpointConfig.clusterName, 'keyway-cache');
  assert.equal(endpointsDump.dynamicEndpointConfigs[0]!.versionInfo, eds.version);
  assert.equal(listenersDump.dynamicListeners[0]!.name, 'keyway-cache');
  assert.ok(listenersDump.dynamicListeners[0]!.activeState.listener.address, 'a real listener for Envoy');
  const missing = await get<{ error: { code: string; parameter: string } }>('/debug/config_dump');
  assert.equal(missing.status, 400);
  assert.equal(missing.body.error.parameter, 'proxy');
  const unknown = await get<{ error: { code: string; parameter: string } }>('/debug/config_dump?proxy=envoy-9');
  assert.equal(unknown.status, 404);
  assert.deepEqual([unknown.body.error.code, unknown.body.error.parameter], ['NOT_FOUND', 'proxy']);

  // An ownership-only change (a weight): Envoy gets a new ClusterLoadAssignment and nothing else.
  await topo.write(fourNodeTopology([10, 10, 10, 40]));
  const moved: Received = await envoy.expect('endpoint', 8000);
  assert.notEqual(moved.version, eds.version);
  envoy.ack('endpoint');
  const map2 = await newMap(map1.version);
  const place2 = placement(moved.resources[0]!.message);
  for (const { shard, owners } of map2.shards) assert.deepEqual(place2.get(shard)?.p0, [owners[0]], `shard ${shard} after the change`);
  assert.ok(map2.shards.some((s, i) => s.owners[0] !== map1.shards[i]!.owners[0]), 'some primary moved');
  const afterMove = await eventually('EDS ACK', async () => {
    const row = await proxyRow('envoy-1');
    return row?.types.endpoint!.versionAcked === moved.version ? row : undefined;
  });
  for (const kind of ['cluster', 'listener', 'route'] as const) {
    assert.equal(afterMove.types[kind]!.nonce, synced.types[kind]!.nonce, `no ${kind} push for an ownership change`);
    assert.equal(afterMove.types[kind]!.status, 'SYNCED');
  }
  assert.deepEqual(envoy.history.slice(4).map((r) => r.kind), ['endpoint'], 'only EDS arrived');

  // A NACK: the next change is rejected; /v1/proxies shows it with the proxy's text, config_dump too.
  await topo.write(fourNodeTopology([10, 30, 10, 40]));
  const rejected = await envoy.expect('endpoint', 8000);
  const message = 'malformed IP address: not-an-ip.invalid. Consider setting resolver_name';
  envoy.nack('endpoint', message);
  const nacked = await eventually('NACKED in /v1/proxies', async () => {
    const row = await proxyRow('envoy-1');
    return row?.types.endpoint!.status === 'NACKED' ? row : undefined;
  });
  assert.equal(nacked.types.endpoint!.lastNack?.message, message);
  assert.equal(nacked.types.endpoint!.lastNack?.version, rejected.version);
  assert.ok(!Number.isNaN(Date.parse(nacked.types.endpoint!.lastNack!.at)));
  assert.equal(nacked.types.endpoint!.versionAcked, moved.version, 'the proxy runs on its last good version');
  assert.equal(nacked.types.cluster!.status, 'SYNCED');
  const nackDump = (await get<{ configs: { dynamicEndpointConfigs?: { clientStatus: string; errorState?: { details: string; versionInfo: string } }[] }[] }>('/debug/config_dump?proxy=envoy-1')).body;
  const edsEntry = nackDump.configs[1]!.dynamicEndpointConfigs![0]!;
  assert.equal(edsEntry.clientStatus, 'NACKED');
  assert.deepEqual(edsEntry.errorState && [edsEntry.errorState.details, edsEntry.errorState.versionInfo], [message, rejected.version]);

  // No resend: the next EDS response is the next real change, and its ACK turns the row SYNCED.
  await topo.write(fourNodeTopology([20, 30, 10, 40]));
  const fixed = await envoy.expect('endpoint', 8000);
  assert.notEqual(fixed.version, rejected.version, 'the rejected version was not sent again');
  envoy.ack('endpoint');
  const resynced = await eventually('SYNCED after the fix', async () => {
    const row = await proxyRow('envoy-1');
    return row?.types.endpoint!.status === 'SYNCED' && row.types.endpoint!.versionAcked === fixed.version ? row : undefined;
  });
  assert.equal(resynced.types.endpoint!.lastNack?.version, rejected.version, 'the last NACK stays on record');

  // Metrics from the same pushes: answered pushes and NACKs by type, proxies by flavor and status, convergence.
  const scrape = await eventually('convergence recorded', async () => {
    const text = await (await fetch(`${base}/metrics`)).text();
    return /^keyway_convergence_seconds_count\S* [1-9]/m.test(text) ? text : undefined;
  });
  assert.match(scrape, /^keyway_xds_nacks_total\{type="endpoint"\} 1$/m);
  assert.match(scrape, /^keyway_xds_nacks_total\{type="cluster"\} 0$/m);
  const pushes = Number(/^keyway_xds_pushes_total\{type="endpoint"\} (\d+)$/m.exec(scrape)?.[1]);
  assert.equal(pushes, 4, 'EDS answered four times: initial, move, NACK, fix');
  assert.match(scrape, /^keyway_xds_proxies_connected\{flavor="envoy"\} 1$/m);
  assert.match(scrape, /^keyway_xds_proxy_sync_status\{type="endpoint",status="SYNCED"\} 1$/m);

  // A proxyless gRPC client asking the way grpc-js-xds does gets the gRPC flavor: per-shard routes.
  const grpc = new XdsTestClient({ port: xdsPort, node: { id: 'grpc-1', userAgentName: 'gRPC Node Pure JS', locality: { zone: 'z1', subZone: 'nvl-1' } } });
  clients.push(grpc);
  grpc.request('listener', ['keyway-cache']);
  const glds = await grpc.expect('listener');
  assert.deepEqual(glds.resources.map((r) => r.name), ['keyway-cache']);
  grpc.ack('listener');
  grpc.request('route', ['keyway-cache']);
  const grds = await grpc.expect('route');
  grpc.ack('route');
  const routes = toJson(RouteConfigurationSchema, grds.resources[0]!.message as never) as {
    virtualHosts: { routes: { match: { headers?: { name: string; stringMatch: { exact: string } }[] }; route: { cluster: string } }[] }[];
  };
  const byShard = new Map<string, string>();
  for (const r of routes.virtualHosts[0]!.routes) {
    const h = r.match.headers?.find((x) => x.name === 'x-cache-shard');
    if (h) byShard.set(h.stringMatch.exact, r.route.cluster);
  }
  const current = await shardMap();
  assert.equal(byShard.size, SHARDS);
  for (const { shard, owners } of current.shards) {
    assert.equal(byShard.get(String(shard)), `keyway-cache/owners/${owners.join(',')}`, `gRPC route of shard ${shard}`);
  }
  const grow = await eventually('grpc-1 listed', async () => {
    const row = await proxyRow('grpc-1');
    return row?.types.route!.status === 'SYNCED' ? row : undefined;
  });
  assert.equal(grow.flavor, 'grpc');
  assert.equal(grow.types.listener!.status, 'SYNCED');
  assert.equal(grow.types.cluster!.status, 'NOT_SENT');
});
