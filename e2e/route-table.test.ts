/**
 * The route-table shape end to end (`envoy.routeShape: table`, docs/xds.md "Route shape"): real
 * Envoy (the pinned build and the oldest supported, envoyBinaries()) over ADS from a real `keyway serve`, stand-in cache nodes that answer with their identity.
 * Checked in order (one Envoy and keyway):
 * (a) every shard lands on its primary, by `x-cache-shard` and by the key alone (the Lua filter
 *     sets the header, the table matches again); a malformed, out-of-range or repeated header and a
 *     request with neither header get keyway's answers;
 * (b) a primary that dies hands its shards to their replicas with no failed request (its
 *     cluster's priority 1, the retry; its shards' other owners, spread by weight, not each
 *     shard's own) and takes them back when it returns;
 * (c) a node joins and a node's weight changes: Envoy converges on the new primaries with no
 *     failed request, the new node's clusters arriving with the routes that name them;
 * (d) with `missingHeader: reject`, a request with neither header gets 400, and a key-only request
 *     still reaches its primary (the no-match route runs the Lua script before its 400 applies);
 * (e) a node taken out of the topology: its shards move to their replicas with no failed request,
 *     and its cluster leaves Envoy, never seen gone while a route still names it;
 * (f) reloads that switch the route shape to `subset`, rename the service (the subset shape's
 *     cluster is named after it) and switch back to `table`: no failed request, the old clusters
 *     leaving only after the routes that name them.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { mkdtempSync, renameSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { keyToShard } from '../src/sharding/index.js';
import { adsBootstrap } from './support/bootstrap.js';
import { startCacheNodes, type CacheNodes } from './support/cache-nodes.js';
import { envoyBinaries, envoyVersion, startEnvoy, type EnvoyProcess } from './support/envoy.js';
import { httpGetText, httpRequest } from './support/http.js';
import { startKeyway, type KeywayProcess } from './support/keyway.js';
import { freePort } from './support/ports.js';
import { requestShard, startTraffic, waitForShardOn, type ShardAnswer, type TrafficTally } from './support/traffic.js';
import { stopStack } from './support/teardown.js';
import { eventually } from '../test/support/eventually.js';
import type { ShardMapBody } from '../test/support/rest-bodies.js';

const SHARDS = 32;
const SERVICE = 'keyway-cache';
const NODE_IDS = ['node-0', 'node-1', 'node-2', 'node-3', 'node-4'];
const JOINER = 'node-5';

for (const bin of envoyBinaries()) {
  const version = bin.skip ? bin.path : envoyVersion(bin.path);
  describe(`the route-table shape, Envoy ${bin.label} (${version}) over ADS`, { skip: bin.skip }, () => {
    let nodes: CacheNodes;
    let keyway: KeywayProcess;
    let envoy: EnvoyProcess;
    let dir: string;
    let topologyPath: string;
    let listener: string;
    let listenerPort: number;
    let writes = 0;

    function writeTopology(
      members: readonly { id: string; weight: number }[],
      missingHeader: 'any' | 'reject' = 'any',
      { routeShape = 'table', service = SERVICE }: { routeShape?: 'table' | 'subset'; service?: string } = {},
    ): void {
      const lines = [
        `shards: ${SHARDS}`,
        'replicas: 2',
        'spread: none',
        `service: ${service}`,
        `envoy: {listenerPort: ${listenerPort}, missingHeader: ${missingHeader}, routeShape: ${routeShape}}`,
        'xds: {holdOffMs: 20, maxDelayMs: 200}',
        // The stand-in nodes run no ownership agent: a joiner would wait out the warm-up deadline.
        // The route table takes the serving owners the handoff gives, as the subset shape does.
        'handoff: {enabled: false}',
        'endpoints:',
        ...members.map((m) => `  - {id: ${m.id}, address: 127.0.0.1, port: ${nodes.byId(m.id).port}, weight: ${m.weight}}`),
      ];
      const tmp = path.join(dir, `.topology.${writes++}.tmp`);
      writeFileSync(tmp, `${lines.join('\n')}\n`);
      renameSync(tmp, topologyPath);
    }

    const shardMap = async (): Promise<ShardMapBody> => JSON.parse(await httpGetText(`${keyway.httpUrl}/v1/shardmap`)) as ShardMapBody;
    const diag = (): string => `\n--- envoy log ---\n${envoy?.logTail(30)}\n--- keyway log ---\n${keyway?.logTail(30)}`;
    // Each node's own entry (priority 0) in its cluster; the others there back it up at priority 1.
    const nodeClusters = async () => (await envoy.clusters()).filter((h) => h.cluster.startsWith(`${SERVICE}/node/`) && h.priority === 0);

    before(async () => {
      nodes = await startCacheNodes([...NODE_IDS, JOINER]);
      dir = mkdtempSync(path.join(tmpdir(), 'keyway-route-table-e2e-'));
      topologyPath = path.join(dir, 'topology.yaml');
      listenerPort = await freePort();
      listener = `http://127.0.0.1:${listenerPort}`;
      writeTopology(NODE_IDS.map((id) => ({ id, weight: 10 })));
      keyway = await startKeyway({ configPath: topologyPath, readyTimeoutMs: 45_000 });
      envoy = await startEnvoy({ bootstrap: adsBootstrap({ xdsPort: keyway.xdsPort, nodeId: 'envoy-route-table' }), binary: bin.path });
      await eventually('every node cluster healthy', nodeClusters, { accept: (hosts) => hosts.length === NODE_IDS.length && hosts.every((h) => h.healthy), timeoutMs: 20_000 }).catch((err: Error) =>
        assert.fail(`${err.message}${diag()}`),
      );
    });

    after(() => stopStack({ envoy, keyway, nodes, dir }));

    test('(a) every shard reaches its primary, by shard or by key; bad headers get 400, no header any node', async () => {
      const map = await shardMap();
      assert.equal(map.shards.length, SHARDS);
      for (const { shard, owners } of map.shards) await waitForShardOn(listener, shard, owners[0]!, { timeoutMs: 15_000, count: 3 });
      for (const { shard, owners } of map.shards) assert.equal((await requestShard(listener, shard)).servedBy, owners[0], `shard ${shard}`);

      for (let i = 0; i < 40; i++) {
        const key = `user:${i}`;
        const res = await httpRequest(`${listener}/cache/k`, { headers: { 'x-cache-key': key } });
        const shard = keyToShard(key, SHARDS);
        assert.equal(res.status, 200, `${key}: ${res.body}`);
        assert.equal(res.headers['x-served-by'], map.shards[shard]!.owners[0], `${key} (shard ${shard}) reaches its primary`);
      }
      for (const bad of ['x', '05', String(SHARDS), '-1']) {
        const a = await requestShard(listener, bad);
        assert.equal(a.status, 400, `x-cache-shard ${JSON.stringify(bad)}: ${a.body}`);
        assert.equal(a.servedBy, undefined);
      }
      const repeated = await httpRequest(`${listener}/cache/k`, { headers: { 'x-cache-shard': ['1', '2'] } });
      assert.equal(repeated.status, 400, `a repeated x-cache-shard: ${repeated.body}`);
      const none = await requestShard(listener, undefined);
      assert.equal(none.status, 200, 'missingHeader any: a request with neither header reaches some node');
      assert.ok(NODE_IDS.includes(none.servedBy!));
    });

    test("(b) a dead primary hands its shards to its shards' replicas with no failed request, and takes them back", async () => {
      const map = await shardMap();
      const primary = map.shards[0]!.owners[0]!;
      const led = map.shards.filter((s) => s.owners[0] === primary);
      const node = nodes.byId(primary);
      // 32 requests in flight when the node dies: each fails at once and must get its own retry.
      const traffic = startTraffic(listener, led.map((s) => s.shard));
      await sleep(300);
      await node.stop();
      // Back up whatever fails here, so the later cases do not fail for its absence.
      try {
        await sleep(1_000);
        const during = await traffic.stop();
        assert.deepEqual(during.failed, [], `no request failed while ${primary} died under load (${during.sent} sent)`);
        const seen: ShardAnswer[] = [];
        for (let round = 0; round < 4; round++) for (const s of led) seen.push(await requestShard(listener, s.shard));
        assert.deepEqual(seen.filter((a) => a.status !== 200).map((a) => `${a.status} ${a.body.trim()}`), [], 'no failed request while the primary was down');
        // Its cluster's priority 1: the other owners of the shards it leads (the replicas here).
        const backups = new Set(led.map((s) => s.owners[1]!));
        const servers = new Set(seen.map((a) => a.servedBy!));
        const underLoad = [...during.servedBy.keys()].filter((id) => id !== primary);
        assert.ok(underLoad.length > 0 && underLoad.every((id) => backups.has(id)), `under load, failed over to ${underLoad.join(',')}; the replicas are ${[...backups].join(',')}`);
        assert.ok(!servers.has(primary), `${primary} is down, yet answered`);
        assert.ok([...servers].every((id) => backups.has(id)), `served by ${[...servers].join(',')}, its shards' replicas are ${[...backups].join(',')}`);
        if (backups.size > 1) assert.ok(servers.size > 1, `the requests spread over the replicas (served by ${[...servers].join(',')})`);
        await eventually(`${primary} to fail its health check`, () => envoy.clusters(`${SERVICE}/node/${primary}`), {
          accept: (hosts) => hosts.some((h) => h.priority === 0 && h.flags.includes('failed_active_health_check')),
          timeoutMs: 20_000,
        });
      } finally {
        await node.start();
      }
      for (const s of led) await waitForShardOn(listener, s.shard, primary, { timeoutMs: 20_000 });
    });

    test('(c) a node joins, then a weight changes: Envoy follows with no failed request', async () => {
      const steps = [
        [...NODE_IDS, JOINER].map((id) => ({ id, weight: 10 })),
        [...NODE_IDS, JOINER].map((id) => ({ id, weight: id === 'node-1' ? 40 : 10 })),
      ];
      for (const [i, members] of steps.entries()) {
        const before = await shardMap();
        // Requests for every shard from 4 callers, back to back, while Envoy takes the change: a
        // route applied before the cluster it names has warmed would answer 503 (keyway stages it).
        let running = true;
        const during: ShardAnswer[] = [];
        const callers = Array.from({ length: 4 }, async (_, c) => {
          for (let n = c; running; n += 4) during.push(await requestShard(listener, n % SHARDS));
        });
        writeTopology(members);
        const next = await eventually('a new shard map', shardMap, { accept: (m) => m.version !== before.version, timeoutMs: 10_000 });
        const seen: ShardAnswer[] = [];
        try {
          for (const { shard, owners } of next.shards) seen.push(...(await waitForShardOn(listener, shard, owners[0]!, { timeoutMs: 15_000, count: 3 })));
        } finally {
          running = false;
          await Promise.all(callers);
        }
        assert.ok(during.length > 100, `traffic ran during the change (${during.length} requests)`);
        seen.push(...during);
        assert.deepEqual(seen.filter((a) => a.status !== 200).map((a) => `${a.status} ${a.body.trim()}`), [], `no failed request while Envoy followed${diag()}`);
        if (i === 0) assert.ok(next.shards.some((s) => s.owners[0] === JOINER), `${JOINER} leads some shard once it joined`);
      }
    });

    test('(d) missingHeader reject: no header is a 400, a key-only request still reaches its primary', async () => {
      writeTopology(
        [...NODE_IDS, JOINER].map((id) => ({ id, weight: id === 'node-1' ? 40 : 10 })),
        'reject',
      );
      await eventually('a request with neither header to get 400', () => requestShard(listener, undefined), { accept: (a) => a.status === 400, timeoutMs: 15_000 });
      const map = await shardMap();
      for (let i = 0; i < 40; i++) {
        const key = `user:${i}`;
        const res = await httpRequest(`${listener}/cache/k`, { headers: { 'x-cache-key': key } });
        assert.equal(res.status, 200, `${key}: ${res.body}`);
        assert.equal(res.headers['x-served-by'], map.shards[keyToShard(key, SHARDS)]!.owners[0], `${key} reaches its primary`);
      }
      const none = await requestShard(listener, undefined);
      assert.match(none.body, /missing x-cache-shard and x-cache-key headers/);
      assert.equal((await requestShard(listener, 'x')).status, 400, 'a malformed shard header is still refused');
    });

    test('(e) a node taken out of the topology: no failed request, and its cluster leaves, never before its routes', async () => {
      const before = await shardMap();
      const victim = before.shards[0]!.owners[0]!;
      const cluster = `${SERVICE}/node/${victim}`;
      const routesName = async (): Promise<boolean> => JSON.stringify(await envoy.configDump({ resource: 'dynamic_route_configs' })).includes(`"${cluster}"`);
      assert.ok(await routesName(), `the route table names ${cluster} before the change`);
      // Every request in flight on the victim's shards, whose routes change: one routed to its
      // cluster once the cluster had left would answer 503 (no cluster).
      const traffic = startTraffic(
        listener,
        before.shards.filter((s) => s.owners[0] === victim).map((s) => s.shard),
      );
      // Each poll reads the clusters, then the routes: the routes move first, so a cluster seen gone
      // while a route still names it means the cluster left first.
      const inverted: number[] = [];
      let during: TrafficTally;
      try {
        writeTopology(
          [...NODE_IDS, JOINER].filter((id) => id !== victim).map((id) => ({ id, weight: id === 'node-1' ? 40 : 10 })),
          'reject',
        );
        await eventually(
          `${cluster} to leave Envoy`,
          async () => {
            const present = (await envoy.clusters(cluster)).length > 0;
            const named = await routesName();
            if (!present && named) inverted.push(Date.now());
            return !present && !named;
          },
          { accept: (left) => left, timeoutMs: 20_000, intervalMs: 20 },
        ).catch((err: Error) => assert.fail(`${err.message}${diag()}`));
        await sleep(300);
      } finally {
        during = await traffic.stop();
      }
      assert.deepEqual(during.failed, [], `no request failed while ${victim} left the topology (${during.sent} sent)`);
      assert.ok(during.sent > 50, `traffic ran through the change (${during.sent} requests)`);
      assert.equal(inverted.length, 0, `${cluster} left Envoy while a route still named it`);
      const next = await shardMap();
      assert.ok(next.shards.every((s) => !s.owners.includes(victim)), `${victim} owns nothing once it left`);
      for (const { shard, owners } of next.shards) assert.equal((await requestShard(listener, shard)).servedBy, owners[0], `shard ${shard} reaches its new primary`);
    });

    test('(f) reloads that switch the route shape and rename the service: no failed request', async () => {
      const members = (await shardMap()).endpoints.map((e) => ({ id: e.id, weight: e.weight }));
      const steps: { routeShape: 'table' | 'subset'; service: string; clusters: (names: readonly string[]) => boolean }[] = [
        { routeShape: 'subset', service: SERVICE, clusters: (names) => names.length === 1 && names[0] === SERVICE },
        { routeShape: 'subset', service: `${SERVICE}-b`, clusters: (names) => names.length === 1 && names[0] === `${SERVICE}-b` },
        { routeShape: 'table', service: `${SERVICE}-b`, clusters: (names) => names.length === members.length && names.every((n) => n.startsWith(`${SERVICE}-b/node/`)) },
      ];
      for (const step of steps) {
        // Every shard, 32 requests in flight, each on a connection of its own, while Envoy takes
        // the new clusters and routes: a route applied before its cluster warmed, or a cluster
        // removed while a route named it, answers 503 (no_cluster). 8 more callers hold kept-alive
        // connections, as applications do: they stay on the listener that accepted them and take
        // the new routes, which must work with it (with a listener per shape: 503 no healthy
        // upstream); a renamed service renames the listener, and the draining one's connections
        // ask for its former route configuration (docs/xds.md "A renamed service").
        const all = Array.from({ length: SHARDS }, (_, s) => s);
        const traffic = startTraffic(listener, all);
        const agent = new http.Agent({ keepAlive: true, maxSockets: 8 });
        const kept = startTraffic(listener, all, 8, agent);
        let during: TrafficTally;
        let keptAlive: TrafficTally;
        try {
          writeTopology(members, 'reject', step);
          await eventually(
            `Envoy's clusters to be those of ${step.routeShape} / ${step.service}`,
            async () => [...new Set((await envoy.clusters()).map((h) => h.cluster).filter((c) => c.startsWith(SERVICE)))].sort(),
            { accept: step.clusters, timeoutMs: 30_000, intervalMs: 50 },
          ).catch((err: Error) => assert.fail(`${err.message}${diag()}`));
          await sleep(300);
        } finally {
          during = await traffic.stop();
          keptAlive = await kept.stop();
          agent.destroy();
        }
        assert.ok(during.sent > 50, `traffic ran through the change (${during.sent} requests)`);
        assert.deepEqual(during.failed, [], `no request failed while Envoy went to ${step.routeShape} / ${step.service} (${during.sent} sent)${diag()}`);
        assert.ok(keptAlive.sent > 50, `kept-alive traffic ran through the change (${keptAlive.sent} requests)`);
        assert.deepEqual(keptAlive.failed, [], `no kept-alive request failed while Envoy went to ${step.routeShape} / ${step.service} (${keptAlive.sent} sent)${diag()}`);
      }
      const map = await shardMap();
      for (const { shard, owners } of map.shards) assert.equal((await requestShard(listener, shard)).servedBy, owners[0], `shard ${shard} reaches its primary`);
    });
  });
}
