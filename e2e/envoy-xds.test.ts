/**
 * The xDS stage end to end (docs/xds.md): real Envoy bootstrapped with ADS to a real `keyway serve` (child process),
 * local HTTP cache nodes that answer with their identity (and /healthz for the active health check
 * keyway configures). Checked, each in its own subtest, in order (they share one Envoy and keyway):
 * (a) every shard lands on its primary; (b) a primary that dies hands its shards to the replica and
 * takes them back when it returns; (c) ownership changes are endpoint-only updates for Envoy;
 * (d) a host name in the file is refused on reload: the last good map stays and Envoy is sent nothing
 * (the NACK path itself: test/integration/xds-serve.test.ts with a protocol client);
 * (e) a keyway restart hands Envoy identical versions and nothing re-warms; (f) 2500 requests in flight
 * through the one proxy to slow nodes all answered (Envoy's own circuit breakers would refuse most);
 * (g) Envoy's per-request extras (dynamic stats, a generated x-request-id, its own headers) are off
 * by default and come on with their settings (each alone: test/xds/translator/envoy.test.ts).
 * Stat names: docs/envoy-findings.md section 5.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, renameSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { adsBootstrap } from './support/bootstrap.js';
import { startCacheNodes, type CacheNodeAnswer, type CacheNodes } from './support/cache-nodes.js';
import { envoySkipReason, startEnvoy, type EnvoyProcess } from './support/envoy.js';
import { httpGetText, httpRequest } from './support/http.js';
import { startKeyway, type KeywayProcess } from './support/keyway.js';
import { freePort } from './support/ports.js';
import { requestShard, startTraffic, waitForShardOn, type ShardAnswer } from './support/traffic.js';
import { stopStack } from './support/teardown.js';
import { eventually } from '../test/support/eventually.js';
import type { ProxyRow, ShardMapBody } from '../test/support/rest-bodies.js';

const skip = envoySkipReason();
const SHARDS = 32;
const SERVICE = 'keyway-cache';
const NODE_ID = 'envoy-e2e';
const NODE_IDS = ['node-0', 'node-1', 'node-2', 'node-3', 'node-4', 'node-5'];

/** Envoy stats for the cluster, listener and route keyway sends (cluster and route config are named after the service). */
const STAT = {
  edsSuccess: `cluster.${SERVICE}.update_success`,
  edsAttempt: `cluster.${SERVICE}.update_attempt`,
  edsRejected: `cluster.${SERVICE}.update_rejected`,
  edsNoRebuild: `cluster.${SERVICE}.update_no_rebuild`,
  edsVersion: `cluster.${SERVICE}.version_text`,
  cdsVersion: 'cluster_manager.cds.version_text',
  ldsVersion: 'listener_manager.lds.version_text',
  rdsVersion: `http.${SERVICE}.rds.${SERVICE}.version_text`,
  connected: 'control_plane.connected_state',
};
/** Counters that move when Envoy adds, rebuilds or re-warms a cluster or listener: an endpoint-only update leaves them alone. */
const REBUILD_STATS = [
  'cluster_manager.cluster_added',
  'cluster_manager.cluster_modified',
  'cluster_manager.cluster_removed',
  'cluster_manager.warming_clusters',
  'cluster_manager.cds.update_success',
  'cluster_manager.cds.update_rejected',
  'listener_manager.listener_added',
  'listener_manager.listener_modified',
  'listener_manager.listener_in_place_updated',
  'listener_manager.listener_removed',
  'listener_manager.total_listeners_warming',
  'listener_manager.lds.update_success',
  `http.${SERVICE}.rds.${SERVICE}.update_success`,
];

interface Member {
  readonly id: string;
  readonly weight: number;
  /** Defaults to 127.0.0.1; a host name is refused by keyway's file validation. */
  readonly address?: string;
}

describe('Envoy (pinned) driven by keyway serve over ADS', { skip }, () => {
  let nodes: CacheNodes;
  let keyway: KeywayProcess;
  let envoy: EnvoyProcess;
  let dir: string;
  let topologyPath: string;
  let listener: string;
  let listenerPort: number;
  let writes = 0;
  /** The topology in force after (c): what (d) breaks and fixes. */
  let current: Member[] = [];
  /** More `envoy:` settings for the topology file, e.g. `, dynamicStats: true` ((g)). */
  let envoyExtras = '';

  const members = (over: Partial<Record<string, Partial<Member> | null>> = {}): Member[] =>
    NODE_IDS.flatMap((id) => {
      const o = over[id];
      return o === null ? [] : [{ id, weight: 10, ...o }];
    });

  /** Writes the topology file atomically (keyway's file source sees one complete file). */
  function writeTopology(list: readonly Member[], extra: readonly Member[] = []): void {
    const lines = [
      `shards: ${SHARDS}`,
      'replicas: 2',
      'spread: none',
      `service: ${SERVICE}`,
      `envoy: {listenerPort: ${listenerPort}, missingHeader: any, upstreamProtocol: http1${envoyExtras}}`,
      'xds: {holdOffMs: 20, maxDelayMs: 200}',
      'endpoints:',
    ];
    [...list, ...extra].forEach((m) => {
      const known = NODE_IDS.indexOf(m.id);
      const port = known >= 0 ? nodes.byId(m.id).port : 9;
      const i = known >= 0 ? known : NODE_IDS.length; // locality follows the node, not its place in the list
      lines.push(
        `  - id: ${m.id}`,
        `    address: ${m.address ?? '127.0.0.1'}`,
        `    port: ${port}`,
        `    locality: {region: local, zone: z${i % 2}, subzone: nvl-${i % 3}}`,
        `    weight: ${m.weight}`,
      );
    });
    const tmp = path.join(dir, `.topology.${writes++}.tmp`);
    writeFileSync(tmp, `${lines.join('\n')}\n`);
    renameSync(tmp, topologyPath);
  }

  const api = async <T>(p: string): Promise<T> => JSON.parse(await httpGetText(`${keyway.httpUrl}${p}`)) as T;
  const shardMap = (): Promise<ShardMapBody> => api<ShardMapBody>('/v1/shardmap');
  const proxyRow = async (): Promise<ProxyRow | undefined> => (await api<{ proxies: ProxyRow[] }>('/v1/proxies')).proxies.find((p) => p.id === NODE_ID);
  const newMap = (from: string): Promise<ShardMapBody> =>
    eventually(`a shard map other than ${from}`, shardMap, { accept: (m) => m.version !== from, timeoutMs: 10_000 });
  const readStats = async (names: readonly string[]): Promise<Record<string, number | undefined>> =>
    Object.fromEntries(await Promise.all(names.map(async (n) => [n, await envoy.statValue(n)] as const)));
  const diag = (): string => `\n--- envoy log ---\n${envoy?.logTail(30)}\n--- keyway log ---\n${keyway?.logTail(30)}`;

  /** Waits until every shard is served only by its primary in `map`; returns every answer seen. */
  async function convergeOnPrimaries(map: ShardMapBody, timeoutMs = 15_000): Promise<ShardAnswer[]> {
    const seen: ShardAnswer[] = [];
    for (const { shard, owners } of map.shards) seen.push(...(await waitForShardOn(listener, shard, owners[0]!, { timeoutMs, count: 3 })));
    return seen;
  }

  before(async () => {
    nodes = await startCacheNodes(NODE_IDS);
    dir = mkdtempSync(path.join(tmpdir(), 'keyway-xds-e2e-'));
    topologyPath = path.join(dir, 'topology.yaml');
    listenerPort = await freePort();
    listener = `http://127.0.0.1:${listenerPort}`;
    writeTopology(members());
    // Generous start-up bound: tsx compiles keyway's sources on a 2-core CI machine.
    keyway = await startKeyway({ configPath: topologyPath, readyTimeoutMs: 45_000 });
    envoy = await startEnvoy({ bootstrap: adsBootstrap({ xdsPort: keyway.xdsPort, nodeId: NODE_ID, locality: { region: 'local', zone: 'z0', sub_zone: 'nvl-0' } }) });
    // Warm: every host (6 primaries' copies and their priority-1 aliases) through its first health check.
    await eventually(`healthy hosts in cluster ${SERVICE}`, () => envoy.clusters(SERVICE), { accept: (hosts) => hosts.length > NODE_IDS.length && hosts.every((h) => h.healthy), timeoutMs: 20_000 }).catch((err: Error) => assert.fail(`${err.message}${diag()}`));
  });

  after(() => stopStack({ envoy, keyway, nodes, dir }));

  test('(a) every shard lands on its primary; Envoy is SYNCED on all four types in /v1/proxies', async () => {
    const map = await shardMap();
    assert.equal(map.shards.length, SHARDS);
    const seen = await convergeOnPrimaries(map);
    assert.ok(seen.every((a) => a.status === 200), `no failed request: ${JSON.stringify(seen.filter((a) => a.status !== 200))}`);
    for (const { shard, owners } of map.shards) {
      for (let i = 0; i < 3; i++) assert.equal((await requestShard(listener, shard)).servedBy, owners[0], `shard ${shard}`);
    }
    const row = await eventually('envoy SYNCED on every type', proxyRow, { accept: (r) => !!r && Object.values(r.types).every((t) => t.status === 'SYNCED') });
    assert.equal(row!.flavor, 'envoy');
    assert.equal(await envoy.statText(STAT.edsVersion), row!.types.endpoint!.versionAcked, 'Envoy runs the EDS version keyway recorded as ACKed');
    assert.equal(await envoy.statText(STAT.cdsVersion), row!.types.cluster!.versionAcked);
  });

  test('(b) the primary takes the traffic while healthy, the replica while it is down, and the primary again when it returns', async () => {
    const map = await shardMap();
    const { shard, owners } = map.shards[0]!;
    const [primary, replica] = owners as [string, string];
    const node = nodes.byId(primary);
    const led = map.shards.filter((s) => s.owners[0] === primary);
    // 32 requests in flight when the node dies: each fails at once and must get its own retry.
    const traffic = startTraffic(listener, led.map((s) => s.shard));
    await sleep(300);
    await node.stop();
    // Back up whatever fails here, so the later cases do not fail for its absence.
    try {
      await sleep(1_000);
      const during = await traffic.stop();
      assert.deepEqual(during.failed, [], `no request failed while ${primary} died under load (${during.sent} sent)`);
      const replicas = new Set(led.map((s) => s.owners[1]!));
      const servers = [...during.servedBy.keys()];
      assert.ok(servers.every((id) => id === primary || replicas.has(id)) && servers.some((id) => replicas.has(id)), `served by the primary, then its shards' replicas: ${JSON.stringify([...during.servedBy])}`);
      const seen: ShardAnswer[] = [];
      for (const s of led) seen.push(...(await waitForShardOn(listener, s.shard, s.owners[1]!, { timeoutMs: 10_000 })));
      // The route's retry to the previous priority hides the dead primary from clients.
      assert.deepEqual(seen.filter((a) => a.status !== 200).map((a) => a.status), [], 'no failed request while the primary was down');
      const other = map.shards.find((s) => !s.owners.includes(primary))!;
      assert.equal((await requestShard(listener, other.shard)).servedBy, other.owners[0], 'shards without the dead node do not move');
      // One active check per node: its own entry carries it (its ::ffff: alias, a replica entry, is not
      // checked), every 2 s once the cluster has traffic, three failures in a row.
      await eventually(`${primary}'s own entry to fail active health checks`, async () => (await envoy.clusters(SERVICE)).filter((h) => h.port === node.port && !h.address.startsWith('::ffff:')), {
        accept: (hosts) => hosts.length === 1 && hosts[0]!.flags.includes('failed_active_health_check'),
        timeoutMs: 20_000,
      });
      assert.equal((await requestShard(listener, shard)).servedBy, replica);
    } finally {
      await node.start();
    }
    for (const s of led) await waitForShardOn(listener, s.shard, primary, { timeoutMs: 15_000 });
  });

  test('(c) ownership changes (a reweight, then a node removed) converge as endpoint-only updates', async () => {
    // Remove a node that leads shards after the reweight (which one depends on the hash).
    const reweighted = members({ 'node-1': { weight: 40 } });
    const steps: [string, () => Promise<Member[]>][] = [
      ['node-1 weight 10 -> 40', async () => reweighted],
      [
        'a primary removed',
        async () => {
          const leads = new Set((await shardMap()).shards.map((s) => s.owners[0]));
          const victim = [...NODE_IDS].reverse().find((id) => id !== 'node-1' && leads.has(id))!;
          return reweighted.filter((m) => m.id !== victim);
        },
      ],
    ];
    for (const [what, nextOf] of steps) {
      const next = await nextOf();
      const before = await shardMap();
      const rowBefore = (await proxyRow())!;
      const rebuildBefore = await readStats(REBUILD_STATS);
      const successBefore = (await envoy.statValue(STAT.edsSuccess)) ?? 0;
      writeTopology(next);
      current = next;
      const after = await newMap(before.version);
      assert.ok(after.shards.some((s, i) => s.owners[0] !== before.shards[i]!.owners[0]), `${what}: some primary moves`);
      await envoy.waitForStat(STAT.edsSuccess, (v) => (v ?? 0) > successBefore, { timeoutMs: 10_000 });
      await convergeOnPrimaries(after);
      const row = await eventually(`${what}: the new EDS version ACKed`, proxyRow, { accept: (r) => r?.types.endpoint!.status === 'SYNCED' && r.types.endpoint!.versionAcked !== rowBefore.types.endpoint!.versionAcked });
      assert.deepEqual(await readStats(REBUILD_STATS), rebuildBefore, `${what}: no cluster or listener added, modified or warmed${diag()}`);
      assert.equal(await envoy.statValue(STAT.edsSuccess), successBefore + 1, `${what}: exactly one endpoint update`);
      assert.equal(await envoy.statText(STAT.edsVersion), row!.types.endpoint!.versionAcked);
      for (const kind of ['cluster', 'listener', 'route'] as const) {
        assert.equal(row!.types[kind]!.nonce, rowBefore.types[kind]!.nonce, `${what}: keyway sent no ${kind} update`);
      }
    }
    // The removed node's hosts left the cluster at once (ignore_health_on_host_removal), though it still passes health checks.
    const gone = nodes.byId(NODE_IDS.find((id) => !current.some((m) => m.id === id))!);
    const hosts = await envoy.clusters(SERVICE);
    assert.ok(!hosts.some((h) => h.port === gone.port), `${gone.id} left the cluster`);
  });

  test('(d) a host name in the file is refused on reload: the located error is logged, the last good map stays, Envoy is sent nothing', async () => {
    // Envoy would NACK a host name in EDS; keyway now refuses it in the file instead
    // (docs/configuration.md "address"), so no proxy ever receives it.
    type Ready = { stale: boolean; sources: { kind: string; stale: boolean; lastError?: string }[] };
    const fileSource = async (): Promise<Ready['sources'][number] | undefined> => (await api<Ready>('/readyz')).sources.find((x) => x.kind === 'file');
    const lineOfBadAddress = 9 + current.length * 5; // seven header lines, five per member; `address:` is the second of node-x
    const good = await shardMap();
    const goodRow = (await proxyRow())!;
    const goodVersion = await envoy.statText(STAT.edsVersion);
    const attemptBefore = (await envoy.statValue(STAT.edsAttempt)) ?? 0;
    writeTopology(current, [{ id: 'node-x', weight: 80, address: 'not-an-ip.invalid' }]);
    try {
      const refused = await eventually('the reload refused, the file source stale', fileSource, { accept: (f) => f?.stale === true, timeoutMs: 20_000 });
      assert.ok(
        refused!.lastError?.includes(`${topologyPath}:${lineOfBadAddress}:5: endpoints[${current.length}].address: must be an IPv4 or IPv6 address`),
        refused!.lastError,
      );
      // pino writes to stdout asynchronously: the line may land just after /readyz shows the error.
      await eventually('the refusal logged at error level', () => keyway.logs().some((l) => l.level === 50 && String(l.msg).startsWith('topology file rejected')), {
        timeoutMs: 5_000,
      });
      assert.equal((await shardMap()).version, good.version, 'the last good map stays in force');
      const row = (await proxyRow())!;
      for (const kind of ['cluster', 'endpoint', 'listener', 'route'] as const) {
        assert.equal(row.types[kind]!.status, 'SYNCED', kind);
        assert.equal(row.types[kind]!.nonce, goodRow.types[kind]!.nonce, `no ${kind} response after the refused reload`);
      }
      assert.equal(await envoy.statValue(STAT.edsAttempt), attemptBefore, 'no EDS response reached Envoy');
      assert.equal(await envoy.statText(STAT.edsVersion), goodVersion);
      for (const { shard, owners } of good.shards.slice(0, 8)) {
        assert.equal((await requestShard(listener, shard)).servedBy, owners[0], `shard ${shard} on its owner`);
      }
    } finally {
      // The fix (the bad node removed) is the input in force again; (e) restarts keyway on this file.
      writeTopology(current);
    }
    await eventually('the file source fresh again', fileSource, { accept: (f) => f?.stale === false, timeoutMs: 20_000 });
    assert.equal((await shardMap()).version, good.version);
  });

  test('(e) keyway restarted: Envoy reconnects, gets identical versions, nothing is rebuilt or re-warmed', async () => {
    const versionStats = [STAT.cdsVersion, STAT.edsVersion, STAT.ldsVersion, STAT.rdsVersion];
    const versions = Object.fromEntries(await Promise.all(versionStats.map(async (n) => [n, await envoy.statText(n)] as const)));
    const rebuild = await readStats(REBUILD_STATS.filter((n) => !n.endsWith('.update_success')));
    const noRebuildBefore = (await envoy.statValue(STAT.edsNoRebuild)) ?? 0;
    const map = await shardMap();

    await keyway.restart();
    // Envoy reconnects (with its own backoff) and gets the same ClusterLoadAssignment again: update_no_rebuild moves.
    await envoy.waitForStat(STAT.edsNoRebuild, (v) => (v ?? 0) > noRebuildBefore, { timeoutMs: 40_000 }).catch((err: Error) =>
      assert.fail(`${err.message}${diag()}`),
    );
    assert.equal(await envoy.statValue(STAT.connected), 1);
    const row = await eventually('envoy SYNCED on every type after the restart', proxyRow, { accept: (r) => !!r && Object.values(r.types).every((t) => t.status === 'SYNCED'), timeoutMs: 15_000 });
    assert.equal((await shardMap()).version, map.version);
    for (const n of versionStats) assert.equal(await envoy.statText(n), versions[n], `${n} unchanged across the restart`);
    assert.deepEqual(await readStats(Object.keys(rebuild)), rebuild, 'no cluster or listener added, modified or warming');
    assert.equal(row!.types.endpoint!.versionAcked, versions[STAT.edsVersion]);
    assert.equal(row!.types.cluster!.versionAcked, versions[STAT.cdsVersion]);
    assert.equal(row!.types.listener!.versionAcked, versions[STAT.ldsVersion]);
    assert.equal(row!.types.route!.versionAcked, versions[STAT.rdsVersion]);
    await convergeOnPrimaries(map);
  });

  test("(f) 2500 requests in flight through one proxy are all answered: Envoy's circuit breakers do not cap the fleet", async () => {
    // The subset shape puts the whole fleet in one cluster; Envoy's defaults (1024 connections,
    // pending and active requests per cluster) answered 503 to most of these.
    const { shards } = await shardMap();
    for (const id of NODE_IDS) nodes.byId(id).setDelay(500);
    try {
      const answers = await Promise.all(Array.from({ length: 2500 }, (_, i) => requestShard(listener, shards[i % shards.length]!.shard).catch((err: Error) => ({ status: 0, servedBy: undefined, body: err.message }))));
      const failed = answers.filter((a) => a.status !== 200);
      assert.deepEqual(failed.slice(0, 5).map((a) => `${a.status} ${a.body.trim()}`), [], `${failed.length} of 2500 not answered 200`);
      assert.equal(await envoy.statValue(`cluster.${SERVICE}.upstream_rq_pending_overflow`), 0);
    } finally {
      for (const id of NODE_IDS) nodes.byId(id).setDelay(0);
    }
  });

  test("(g) Envoy's per-request extras: off by default, on with their settings", async () => {
    const { shards } = await shardMap();
    const shard = shards[0]!.shard;
    const through = async (): Promise<{ answer: CacheNodeAnswer; serviceTime: unknown; server: unknown }> => {
      const res = await httpRequest(`${listener}/cache/key`, { headers: { 'x-cache-shard': String(shard) } });
      assert.equal(res.status, 200, res.body);
      return { answer: JSON.parse(res.body) as CacheNodeAnswer, serviceTime: res.headers['x-envoy-upstream-service-time'], server: res.headers.server };
    };
    const off = await through();
    assert.equal(off.answer.requestId, null, 'no generated x-request-id');
    assert.deepEqual(off.answer.envoyHeaders, [], 'no x-envoy-* header on the request');
    assert.equal(off.serviceTime, undefined, 'no x-envoy-upstream-service-time on the answer');
    assert.equal(off.server, undefined, 'no server: envoy on the answer');
    assert.ok(((await envoy.statValue(`cluster.${SERVICE}.upstream_rq_total`)) ?? 0) > 0, 'the plain cluster stats count');
    assert.equal(await envoy.statValue(`cluster.${SERVICE}.upstream_rq_2xx`), undefined, 'no dynamic stats');

    const modified = (await envoy.statValue('listener_manager.listener_modified')) ?? 0;
    envoyExtras = ', dynamicStats: true, generateRequestId: true, envoyHeaders: true';
    writeTopology(current);
    await envoy.waitForStat('listener_manager.listener_modified', (v) => (v ?? 0) > modified, { timeoutMs: 10_000 });
    // A new connection reaches the new listener once it is warm.
    const on = await eventually('the listener with the extras serving', through, { accept: (r) => r.answer.requestId !== null, timeoutMs: 10_000 });
    assert.match(on.answer.requestId!, /^[0-9a-f-]{36}$/, 'a generated x-request-id');
    assert.ok(on.answer.envoyHeaders.includes('x-envoy-expected-rq-timeout-ms'), `x-envoy-* headers: ${on.answer.envoyHeaders.join(', ')}`);
    assert.equal(typeof on.serviceTime, 'string', 'x-envoy-upstream-service-time on the answer');
    assert.equal(on.server, 'envoy');
    assert.ok(((await envoy.statValue(`cluster.${SERVICE}.upstream_rq_2xx`)) ?? 0) > 0, 'dynamic stats count');
  });
});
