/**
 * Real Envoy, no keyway: proves the Envoy constructions keyway's translator relies on
 * (docs/envoy-findings.md) with the reference resources of e2e/support/shard-config.ts. Endpoints
 * come from a file-based EDS subscription, so Envoy applies them with the same EDS code path it uses
 * for ADS (that matters: EDS, unlike a STATIC cluster, keeps one host per address).
 *
 * Assignment used (shard -> primary, replica): 0 -> A, B; 1 -> B, C; 2 -> C, A; 3 -> A, C.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startCacheNodes, type CacheNodes } from './support/cache-nodes.js';
import { envoySkipReason, startEnvoy, type EnvoyProcess } from './support/envoy.js';
import { freePort } from './support/ports.js';
import {
  shardLoadAssignment,
  staticShardBootstrap,
  writeEdsFile,
  type ShardedEndpoint,
} from './support/shard-config.js';
import { requestShard, servedBy, waitForShardOn } from './support/traffic.js';
import { eventually } from '../test/support/eventually.js';

const skip = envoySkipReason();

function assignment(nodes: CacheNodes, moved = false): ShardedEndpoint[] {
  const ep = (id: string, leads: number[], backs: number[]): ShardedEndpoint => ({
    address: '127.0.0.1',
    port: nodes.byId(id).port,
    leads,
    backs,
  });
  // `moved`: shard 0's primary moves from A to B, A becomes its replica.
  return moved
    ? [ep('A', [3], [0, 2]), ep('B', [0, 1], []), ep('C', [2], [1, 3])]
    : [ep('A', [0, 3], [2]), ep('B', [1], [0]), ep('C', [2], [1, 3])];
}

const PRIMARY: Record<number, string> = { 0: 'A', 1: 'B', 2: 'C', 3: 'A' };

describe('Envoy (pinned) with the reference shard-routing resources (no keyway)', { skip }, () => {
  let nodes: CacheNodes;
  let envoy: EnvoyProcess;
  let dir: string;
  let edsFile: string;
  let listener: string;
  let version = 0;

  /** Writes a new ClusterLoadAssignment and waits until Envoy has applied (or rejected) it. */
  async function pushEndpoints(cla: Record<string, unknown>, outcome: 'update_success' | 'update_rejected' = 'update_success'): Promise<string> {
    const stat = `cluster.cache.${outcome}`;
    const before = (await envoy.statValue(stat)) ?? 0;
    version += 1;
    writeEdsFile(edsFile, `v${version}`, cla);
    await envoy.waitForStat(stat, (v) => (v ?? 0) > before, { timeoutMs: 10_000 });
    return `v${version}`;
  }

  before(async () => {
    nodes = await startCacheNodes(['A', 'B', 'C']);
    dir = mkdtempSync(path.join(tmpdir(), 'keyway-eds-'));
    edsFile = path.join(dir, 'cache.json');
    writeEdsFile(edsFile, 'v0', shardLoadAssignment('cache', assignment(nodes)));
    const port = await freePort();
    listener = `http://127.0.0.1:${port}`;
    envoy = await startEnvoy({ bootstrap: staticShardBootstrap({ listenerPort: port, endpoints: { edsFile } }) });
    // Cluster warm and every host through its first health check.
    await eventually('six healthy hosts in cluster cache', () => envoy.clusters('cache'), { accept: (hosts) => hosts.length === 6 && hosts.every((h) => h.healthy) });
  });

  after(async () => {
    await envoy?.stop();
    await nodes?.stopAll();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test('each shard is served only by its primary while the primary is healthy', async () => {
    for (const shard of [0, 1, 2, 3]) {
      const tally = await servedBy(listener, shard, 8);
      assert.deepEqual(Object.fromEntries(tally), { [PRIMARY[shard] as string]: 8 }, `shard ${shard}`);
    }
  });

  test('with missingHeader any, a request without the header may reach any node; an unowned shard gets 503', async () => {
    const tally = await servedBy(listener, undefined, 9);
    assert.ok([...tally.keys()].every((k) => ['A', 'B', 'C'].includes(k)), JSON.stringify(Object.fromEntries(tally)));
    assert.ok(tally.size >= 2, `round robin over the cluster, got ${JSON.stringify(Object.fromEntries(tally))}`);
    const unowned = await requestShard(listener, 99);
    assert.equal(unowned.status, 503);
    assert.equal(unowned.servedBy, undefined);
  });

  test('EDS keeps one host per address: the same address at priority 1 is dropped (the first candidate fails)', async () => {
    await pushEndpoints(shardLoadAssignment('cache', assignment(nodes), 'same-address'));
    const hosts = await envoy.clusters('cache');
    assert.equal(hosts.length, 3, 'only the first occurrence of each ip:port is kept');
    assert.ok(hosts.every((h) => h.priority === 0));
    assert.equal(await envoy.statValue('cluster.cache.membership_total'), 3);
    // The working construction: the replica copy under the IPv4-mapped alias.
    await pushEndpoints(shardLoadAssignment('cache', assignment(nodes), 'alias'));
    await eventually('six healthy hosts again', () => envoy.clusters('cache'), { accept: (h) => h.length === 6 && h.every((x) => x.healthy) });
    const replicas = (await envoy.clusters('cache')).filter((h) => h.priority === 1);
    assert.deepEqual(replicas.map((h) => h.address).sort(), ['::ffff:127.0.0.1', '::ffff:127.0.0.1', '::ffff:127.0.0.1']);
  });

  test('primary down: its shards fail over to their replicas without failed requests, and come back', async () => {
    const a = nodes.byId('A');
    await a.stop();
    // Shard 0 (A, B) and shard 3 (A, C) move; retries to the next priority hide the gap.
    const seen0 = await waitForShardOn(listener, 0, 'B');
    const seen3 = await waitForShardOn(listener, 3, 'C');
    const failed = [...seen0, ...seen3].filter((x) => x.status !== 200);
    assert.deepEqual(failed, [], 'no request failed while the primary was down');
    assert.deepEqual(Object.fromEntries(await servedBy(listener, 1, 4)), { B: 4 }, 'shard 1 untouched');
    assert.deepEqual(Object.fromEntries(await servedBy(listener, 2, 4)), { C: 4 }, 'shard 2 untouched');
    // A is two hosts (primary copy and replica alias), health-checked separately: both go down.
    const down = await eventually("both of A's hosts to fail active health checks", async () => (await envoy.clusters('cache')).filter((h) => h.port === a.port), { accept: (hosts) => hosts.length === 2 && hosts.every((h) => h.flags.includes('failed_active_health_check')) });
    assert.deepEqual(down.map((h) => h.priority).sort(), [0, 1]);

    await a.start();
    await waitForShardOn(listener, 0, 'A', { timeoutMs: 15_000 });
    await waitForShardOn(listener, 3, 'A', { timeoutMs: 15_000 });
  });

  test('an ownership change is an endpoint update only: no cluster or listener is added or modified', async () => {
    const names = [
      'cluster_manager.cluster_added',
      'cluster_manager.cluster_modified',
      'cluster_manager.cluster_removed',
      'listener_manager.listener_added',
      'listener_manager.listener_modified',
      'listener_manager.listener_in_place_updated',
      'listener_manager.listener_removed',
    ];
    const read = async (): Promise<Record<string, number | undefined>> =>
      Object.fromEntries(await Promise.all(names.map(async (n) => [n, await envoy.statValue(n)] as const)));
    const before = await read();
    const successBefore = (await envoy.statValue('cluster.cache.update_success')) ?? 0;

    const v = await pushEndpoints(shardLoadAssignment('cache', assignment(nodes, true)));
    await waitForShardOn(listener, 0, 'B');
    assert.deepEqual(Object.fromEntries(await servedBy(listener, 3, 4)), { A: 4 });

    assert.deepEqual(await read(), before, 'cluster and listener counters unchanged');
    assert.equal(await envoy.statValue('cluster.cache.update_success'), successBefore + 1);
    assert.equal(await envoy.statText('cluster.cache.version_text'), v);
    assert.equal(await envoy.statValue('cluster_manager.warming_clusters'), 0);
    // B no longer backs anything up: its alias is gone at once (ignore_health_on_host_removal).
    const hosts = await envoy.clusters('cache');
    assert.equal(hosts.length, 5);
    assert.ok(!hosts.some((h) => h.priority === 1 && h.port === nodes.byId('B').port));
  });

  test('a rejected endpoint update (NACK) keeps the last good version and routing', async () => {
    const good = await envoy.statText('cluster.cache.version_text');
    const bad = shardLoadAssignment('cache', assignment(nodes, true));
    // A hostname where EDS needs an IP literal: Envoy rejects the whole update.
    const badEndpoints = bad.endpoints as Array<{ lb_endpoints: Array<{ endpoint: { address: { socket_address: { address: string } } } }> }>;
    (badEndpoints[0]?.lb_endpoints[0] as (typeof badEndpoints)[0]['lb_endpoints'][0]).endpoint.address.socket_address.address = 'cache-0.example';
    await pushEndpoints(bad, 'update_rejected');
    assert.equal(await envoy.statText('cluster.cache.version_text'), good);
    assert.deepEqual(Object.fromEntries(await servedBy(listener, 0, 4)), { B: 4 });
    assert.match(envoy.logTail(200), /malformed IP address: cache-0\.example/);
  });
});

describe('Envoy (pinned): missingHeader reject', { skip }, () => {
  let nodes: CacheNodes;
  let envoy: EnvoyProcess;
  let listener: string;

  before(async () => {
    nodes = await startCacheNodes(['A', 'B', 'C']);
    const port = await freePort();
    listener = `http://127.0.0.1:${port}`;
    envoy = await startEnvoy({
      bootstrap: staticShardBootstrap({
        listenerPort: port,
        missingHeader: 'reject',
        healthCheck: false,
        endpoints: { loadAssignment: shardLoadAssignment('cache', assignment(nodes)) },
      }),
    });
  });

  after(async () => {
    await envoy?.stop();
    await nodes?.stopAll();
  });

  test('absent, empty or non-numeric header: 400 from Envoy; unowned shard: 503; owned shard: its primary', async () => {
    for (const shard of [undefined, '', 'abc']) {
      const a = await requestShard(listener, shard);
      assert.equal(a.status, 400, `x-cache-shard ${JSON.stringify(shard)}`);
      assert.equal(a.servedBy, undefined);
    }
    const unowned = await requestShard(listener, 42);
    assert.equal(unowned.status, 503);
    assert.match(unowned.body, /no healthy upstream/);
    const owned = await requestShard(listener, 2);
    assert.equal(owned.status, 200);
    assert.equal(owned.servedBy, 'C');
    assert.equal(nodes.nodes.reduce((n, x) => n + x.requests(), 0), 1, 'only the owned request reached a node');
  });
});

describe('Envoy (pinned): upstreamProtocol http2 (h2c to the cache nodes)', { skip }, () => {
  let nodes: CacheNodes;
  let envoy: EnvoyProcess;
  let listener: string;

  before(async () => {
    nodes = await startCacheNodes(['A', 'B', 'C'], { protocol: 'http2' });
    const port = await freePort();
    listener = `http://127.0.0.1:${port}`;
    envoy = await startEnvoy({
      bootstrap: staticShardBootstrap({
        listenerPort: port,
        upstreamProtocol: 'http2',
        endpoints: { loadAssignment: shardLoadAssignment('cache', assignment(nodes)) },
      }),
    });
  });

  after(async () => {
    await envoy?.stop();
    await nodes?.stopAll();
  });

  test('requests reach the owner over HTTP/2 and the HTTP/2 health check passes', async () => {
    await eventually('healthy h2 hosts', () => envoy.clusters('cache'), { accept: (h) => h.length === 6 && h.every((x) => x.healthy) });
    const a = await requestShard(listener, 1);
    assert.equal(a.status, 200);
    assert.equal(a.servedBy, 'B');
    assert.equal((JSON.parse(a.body) as { protocol: string }).protocol, '2.0');
    assert.ok(((await envoy.statValue('cluster.cache.upstream_cx_http2_total')) ?? 0) >= 1);
    assert.equal(await envoy.statValue('cluster.cache.upstream_cx_http1_total'), 0);
  });
});
