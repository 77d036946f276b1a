/**
 * Warm handoff end to end (docs/ownership.md): two `keyway serve` replicas on the same topology,
 * one real Envoy on each, and example cache nodes whose ownership agents stream from both replicas
 * and report warm to both. Checked:
 * (a) a planned move (a node joins): while the new node warms, both replicas hold the same shards
 *     in transition with the same routed version, and both Envoys keep sending those shards to their
 *     previous primaries; no request reaches the new node for a shard before it reported warm; once
 *     it reports, both replicas flip to the same version and both Envoys send the shards to it, which
 *     answers keys it was warmed with from L1;
 * (b) a failed node's shards move at once: no transition waits on it, and both Envoys reach the new
 *     owners.
 * Each replica reads its own copy of the topology (they differ only in Envoy's listener port, which
 * is not part of the shard map), as two keyway pods read the same EndpointSlices.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { OwnershipAgent } from '../src/agent/index.js';
import { keyToShard } from '../src/sharding/index.js';
import { startCacheNodeServer, type RunningCacheNode } from '../examples/cache-node/server.js';
import { adsBootstrap } from './support/bootstrap.js';
import { envoySkipReason, startEnvoy, type EnvoyProcess } from './support/envoy.js';
import { httpGetText, httpRequest } from './support/http.js';
import { startKeyway, type KeywayProcess } from './support/keyway.js';
import { freePorts } from './support/ports.js';
import { eventually } from '../test/support/eventually.js';
import type { NodeHandoffBody, ShardMapBody } from '../src/admin/api-types.js';

const SHARDS = 256;
const SERVICE = 'keyway-cache';
const FIRST = ['n0', 'n1', 'n2', 'n3'];

interface Replica {
  keyway: KeywayProcess;
  envoy: EnvoyProcess;
  topologyPath: string;
  listenerPort: number;
}

describe('warm handoff: two keyway replicas, a real Envoy on each, example cache nodes with ownership agents', { skip: envoySkipReason() }, () => {
  let dir: string;
  const replicas: Replica[] = [];
  const nodes = new Map<string, RunningCacheNode>();
  let writes = 0;
  // n4's warm-up waits for the test to open this gate, so the warming phase can be observed.
  let openGate: () => void = () => {};
  const gate = new Promise<void>((resolve) => (openGate = resolve));

  const members = (): string[] => [...nodes.keys()].sort();
  function writeTopologies(ids: readonly string[]): void {
    for (const r of replicas) {
      const lines = [
        `shards: ${SHARDS}`,
        'replicas: 2',
        `service: ${SERVICE}`,
        `envoy: {listenerPort: ${r.listenerPort}}`,
        'handoff: {warmTimeoutMs: 120000, drainMs: 5000}',
        // The test's own requests are a few per shard: load windows that small make noise look hot,
        // and a hot-shard move would be one more transition than the test plans (docs/hot-shards.md).
        'hotShards: {enabled: false}',
        'endpoints:',
        ...ids.map((id) => `  - {id: ${id}, address: 127.0.0.1, port: ${nodes.get(id)!.httpPort}}`),
      ];
      const tmp = path.join(dir, `.topology.${writes++}.tmp`);
      writeFileSync(tmp, `${lines.join('\n')}\n`);
      renameSync(tmp, r.topologyPath);
    }
  }
  const shardMap = async (r: Replica): Promise<ShardMapBody> => JSON.parse(await httpGetText(`${r.keyway.httpUrl}/v1/shardmap`)) as ShardMapBody;
  const both = (): Promise<ShardMapBody[]> => Promise.all(replicas.map(shardMap));
  /** One request for `key` through replica `r`'s Envoy: status and the node that answered. */
  async function viaEnvoy(r: Replica, key: string): Promise<{ status: number; servedBy: string | undefined; tier: string | undefined }> {
    const res = await httpRequest(`http://127.0.0.1:${r.listenerPort}/kv/${encodeURIComponent(key)}`, { headers: { 'x-cache-key': key }, timeoutMs: 5_000 });
    const one = (h: string | string[] | undefined): string | undefined => (Array.isArray(h) ? h[0] : h);
    return { status: res.status, servedBy: one(res.headers['x-served-by']), tier: one(res.headers['x-cache-tier']) };
  }
  /**
   * Requests `key` until the shard's primary answers. On a loaded machine health checks time out
   * and Envoy fails over to another host for a moment, which is keyway's design; the node that is
   * warming (`warming`) must never answer.
   */
  async function fromPrimary(r: Replica, key: string, primary: string, warming?: string): Promise<{ status: number; servedBy: string | undefined }> {
    let early = 0;
    const a = await eventually(
      `${key} answered by its primary ${primary}`,
      async () => {
        const answer = await viaEnvoy(r, key);
        if (warming !== undefined && answer.servedBy === warming) early++;
        return answer;
      },
      { accept: (answer) => answer.status === 200 && answer.servedBy === primary, timeoutMs: 15_000 },
    );
    assert.equal(early, 0, `${key}: answered by ${warming}, which had not reported warm`);
    return a;
  }
  /** A key of each shard (the first `key-<i>` that hashes there). */
  const keyOf = new Map<number, string>();
  for (let i = 0; keyOf.size < SHARDS; i++) {
    const shard = keyToShard(`key-${i}`, SHARDS);
    if (!keyOf.has(shard)) keyOf.set(shard, `key-${i}`);
  }
  const keywayAddresses = (): string[] => replicas.map((r) => `127.0.0.1:${r.keyway.xdsPort}`);
  async function startNode(id: string, gated = false): Promise<RunningCacheNode> {
    const node = await startCacheNodeServer({
      id,
      host: '127.0.0.1',
      port: 0,
      keywayXds: keywayAddresses(),
      l1Capacity: 10_000,
      ...(gated
        ? {
            createAgent: (opts) =>
              new OwnershipAgent({
                ...opts,
                timing: { backoffInitialMs: 50, backoffMaxMs: 500 },
                warm: async (a, signal) => {
                  await gate;
                  return opts.warm!(a, signal);
                },
              }),
          }
        : {}),
    });
    nodes.set(id, node);
    return node;
  }
  const agentsOn = async (r: Replica): Promise<string[]> =>
    (JSON.parse(await httpGetText(`${r.keyway.httpUrl}/v1/proxies`)) as { proxies: { id: string; flavor: string }[] }).proxies
      .filter((p) => p.flavor === 'agent')
      .map((p) => p.id)
      .sort();
  const diag = (): string => replicas.map((r, i) => `\n--- keyway ${i} log ---\n${r.keyway.logTail(15)}\n--- envoy ${i} log ---\n${r.envoy.logTail(10)}`).join('');

  before(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'keyway-handoff-e2e-'));
    const ports = await freePorts(6);
    // Nodes first need keyway's addresses, keyway needs a topology naming the nodes: fix keyway's ports up front.
    for (let i = 0; i < 2; i++) {
      replicas.push({ topologyPath: path.join(dir, `topology-${i}.yaml`), listenerPort: ports[i]!, keyway: undefined as never, envoy: undefined as never });
    }
    const placeholders = replicas.map((_, i) => ({ httpPort: ports[2 + 2 * i]!, xdsPort: ports[3 + 2 * i]! }));
    const xdsAddresses = placeholders.map((p) => `127.0.0.1:${p.xdsPort}`);
    for (const id of FIRST) {
      nodes.set(id, await startCacheNodeServer({ id, host: '127.0.0.1', port: 0, keywayXds: xdsAddresses, l1Capacity: 10_000 }));
    }
    writeTopologies(FIRST);
    for (const [i, r] of replicas.entries()) {
      r.keyway = await startKeyway({ configPath: r.topologyPath, ...placeholders[i]!, readyTimeoutMs: 45_000 });
      r.envoy = await startEnvoy({ bootstrap: adsBootstrap({ xdsPort: r.keyway.xdsPort, nodeId: `envoy-handoff-${i}` }) });
    }
    for (const r of replicas) {
      await eventually('every host healthy in Envoy', () => r.envoy.clusters(SERVICE), {
        accept: (hosts) => hosts.length >= FIRST.length && hosts.every((h) => h.healthy),
        timeoutMs: 30_000,
      }).catch((err: Error) => assert.fail(`${err.message}${diag()}`));
      await eventually('four agents on the replica', () => agentsOn(r), { accept: (ids) => ids.join() === FIRST.join(), timeoutMs: 20_000 });
    }
  });

  after(async () => {
    openGate();
    for (const r of replicas) {
      await r.envoy?.stop();
      await r.keyway?.stop();
    }
    for (const n of nodes.values()) await n.close();
    if (dir && process.env.KEYWAY_E2E_KEEP !== '1') rmSync(dir, { recursive: true, force: true });
  });

  test('(a) a node joins: no request reaches it for a shard before it reported warm; both replicas flip on its report', async () => {
    const [before0] = await both();
    // Every shard's key through each Envoy until its primary answered: the primaries now hold them in L1.
    for (const r of replicas) {
      for (const [shard, key] of keyOf) {
        const a = await fromPrimary(r, key, before0!.shards[shard]!.owners[0]!);
        assert.deepEqual([a.status, a.servedBy], [200, before0!.shards[shard]!.owners[0]], `${key} (shard ${shard})`);
      }
    }
    const n4 = await startNode('n4', true);
    for (const r of replicas) await eventually('n4 streaming from the replica', () => agentsOn(r), { accept: (ids) => ids.includes('n4'), timeoutMs: 20_000 });
    writeTopologies([...FIRST, 'n4']);

    const during = await eventually('both replicas hold n4s shards in transition', both, {
      accept: (maps) => maps.every((m) => m.endpoints.length === 5 && m.handoff.transitions.length > 0),
      timeoutMs: 20_000,
    });
    const [m0, m1] = during as [ShardMapBody, ShardMapBody];
    assert.equal(m0.version, m1.version, 'the replicas route alike');
    assert.equal(m0.handoff.targetVersion, m1.handoff.targetVersion);
    assert.deepEqual(m0.handoff.transitions.map((t) => [t.shard, t.from, t.to]), m1.handoff.transitions.map((t) => [t.shard, t.from, t.to]));
    const moving = m0.handoff.transitions.map((t) => t.shard);
    assert.ok(m0.handoff.transitions.every((t) => t.warming === 'n4'));
    const progress = JSON.parse(await httpGetText(`${replicas[0]!.keyway.httpUrl}/v1/handoff?node=n4`)) as NodeHandoffBody;
    assert.deepEqual([progress.warming, progress.routedPrimary], [moving.length, 0]);

    // While n4 warms, both Envoys keep every moving shard on its previous primary.
    for (const r of replicas) {
      for (const shard of moving) {
        const a = await fromPrimary(r, keyOf.get(shard)!, before0!.shards[shard]!.owners[0]!, 'n4');
        assert.deepEqual([a.status, a.servedBy], [200, before0!.shards[shard]!.owners[0]], `shard ${shard} while n4 warms`);
      }
    }
    // Keep traffic on the moving shards through both Envoys across the flip.
    let stop = false;
    const seen: { status: number; servedBy: string | undefined }[] = [];
    const traffic = (async () => {
      while (!stop) {
        for (const r of replicas) for (const shard of moving) seen.push(await viaEnvoy(r, keyOf.get(shard)!));
      }
    })();

    openGate();
    const flipped = await eventually('both replicas flipped', both, {
      accept: (maps) => maps.every((m) => m.handoff.transitions.length === 0 && m.version === m.handoff.targetVersion),
      timeoutMs: 30_000,
    }).catch((err: Error) => assert.fail(`${err.message}${diag()}`));
    assert.equal(flipped[0]!.version, flipped[1]!.version);
    for (const shard of moving) assert.equal(flipped[0]!.shards[shard]!.owners[0], 'n4');
    for (const r of replicas) {
      await eventually('the Envoy sends the moved shards to n4', () => viaEnvoy(r, keyOf.get(moving[0]!)!), { accept: (a) => a.servedBy === 'n4', timeoutMs: 15_000 });
    }
    stop = true;
    await traffic;

    assert.ok(seen.length > 0);
    assert.deepEqual(seen.filter((a) => a.status !== 200), [], 'no request failed across the flip');
    assert.ok(seen.some((a) => a.servedBy === 'n4'), 'n4 served after the flip');
    const metrics = await n4.metrics.render();
    assert.doesNotMatch(metrics, /keyway_cache_requests_while_warming_total\{[^}]*\} [1-9]/, 'no request reached n4 for a shard it had not warmed');
    assert.match(metrics, /keyway_cache_warm_entries_total\{[^}]*\} [1-9]/, 'n4 copied entries from the previous primaries');
    // n4 was warmed with exactly the keys the previous primaries held: the first request is an L1 hit.
    for (const r of replicas) {
      const a = await viaEnvoy(r, keyOf.get(moving[moving.length - 1]!)!);
      assert.deepEqual([a.status, a.servedBy, a.tier], [200, 'n4', 'l1']);
    }
  });

  test('(b) a node fails: its shards move at once, no transition waits on it', async () => {
    const [before1] = await both();
    const led = before1!.shards.filter((s) => s.owners[0] === 'n1').map((s) => s.shard);
    assert.ok(led.length > 0);
    await nodes.get('n1')!.close();
    nodes.delete('n1');
    writeTopologies(members());
    const maps = await eventually('n1 removed on both replicas', both, {
      accept: (ms) => ms.every((m) => !m.endpoints.some((e) => e.id === 'n1')),
      timeoutMs: 20_000,
    });
    for (const m of maps) {
      assert.deepEqual(m.handoff.transitions.filter((t) => t.from[0] === 'n1'), [], 'nothing waits on the failed node');
      for (const shard of led) assert.notEqual(m.shards[shard]!.owners[0], 'n1');
      assert.equal(m.version, m.handoff.targetVersion, 'the routed map is the target: every move was immediate');
    }
    assert.equal(maps[0]!.version, maps[1]!.version);
    for (const r of replicas) {
      for (const shard of led) {
        const a = await eventually(`shard ${shard} on its new primary`, () => viaEnvoy(r, keyOf.get(shard)!), {
          accept: (x) => x.status === 200 && x.servedBy === maps[0]!.shards[shard]!.owners[0],
          timeoutMs: 15_000,
        });
        assert.equal(a.status, 200);
      }
    }
  });
});
