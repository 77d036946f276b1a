// keyway shows one state through many surfaces (docs/api.md, docs/observability.md,
// docs/ownership.md, docs/hot-shards.md). This runs `keyway serve` in-process with real ownership
// agents and a hot-shard load snapshot, and checks at a steady state and during two-phase moves
// that they name the same thing: the routed map's version in `/v1/shardmap`, `/readyz` and
// `keyway_shardmap_info`; per endpoint the shards `/v1/shardmap` counts and
// `keyway_shards_owned`/`keyway_shards_primary`; the shards in transition and the hot shards in
// REST and in metrics; each shard's owners and readers in `/v1/shardmap`, `/v1/shards/{shard}`,
// `/v1/lookup` and the agents' assignments; and a conditional GET of `/v1/shardmap` is a 304.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { OwnershipAgent, type Assignment } from '../../src/agent/index.js';
import type { LookupBody, ReadyzBody, ShardBody, ShardMapBody } from '../../src/admin/api-types.js';
import { serveStages } from '../../src/app/wiring.js';
import { startServer } from '../../src/app/index.js';
import type { LoadSnapshot } from '../../src/core/load.js';
import { keyToShard } from '../../src/sharding/index.js';
import { createKeywayMetrics, KEYWAY_METRICS as N } from '../../src/telemetry/index.js';
import { parseExposition } from '../telemetry/support/exposition.js';
import { FedSnapshots } from '../support/fed-snapshots.js';
import { eventually } from '../support/eventually.js';
import { tempTopology } from '../serve/support.js';

const S = 64;
const FAST = { backoffInitialMs: 20, backoffMaxMs: 200, reportRetryMs: 20 };
const FILE_WATCH = { debounce: { holdOffMs: 20, maxDelayMs: 100 }, pollIntervalMs: 50 };

function topology(ids: readonly string[]): string {
  const lines = [`shards: ${S}`, 'replicas: 2', 'handoff: {enabled: true, warmTimeoutMs: 60000, drainMs: 1500, agentWaitMs: 5000}', 'endpoints:'];
  ids.forEach((id, i) => {
    lines.push(`  - id: ${id}`, `    address: 10.0.0.${i + 1}`, '    port: 8080', `    locality: {region: r, zone: z${i % 2}, subzone: f${i}}`, '    weight: 10');
  });
  return `${lines.join('\n')}\n`;
}

/** Shard `hot` carries 60% of 1000 rps; the rest spread evenly. */
function hotSnapshot(i: number, hot: number): LoadSnapshot {
  const shards = Array.from({ length: S }, (_, s) => ({ shard: s, requests: s === hot ? 600 : 400 / (S - 1) }));
  return { windowStartMs: 1_700_000_000_000 + i * 10_000, windowMs: 10_000, shards, nodes: [] };
}

/** A key of each shard, found by a bounded search (hash contract 1). */
function keysByShard(): Map<number, string> {
  const keys = new Map<number, string>();
  for (let i = 0; i < 100_000 && keys.size < S; i++) {
    const key = `user:${i}`;
    const shard = keyToShard(key, S);
    if (!keys.has(shard)) keys.set(shard, key);
  }
  assert.equal(keys.size, S);
  return keys;
}

/** What an agent should hold for a shard by the routed map and the transitions (docs/ownership.md "Phases"). */
function agentDisagreements(map: ShardMapBody, held: ReadonlyMap<string, ReadonlyMap<number, Assignment>>): string[] {
  const warming = new Map(map.handoff.transitions.map((t) => [t.shard, t.warming]));
  const out: string[] = [];
  for (const s of map.shards) {
    const readers = s.readers ?? 1;
    for (const [node, assignments] of held) {
      const a = assignments.get(s.shard);
      if (warming.get(s.shard) === node) {
        if (a?.phase !== 'warming' || a.role !== 'primary') out.push(`${node} shard ${s.shard}: warming, holds ${a?.phase}`);
        continue;
      }
      const at = s.owners.indexOf(node);
      if (at < 0) {
        if (a && a.phase === 'serving') out.push(`${node} shard ${s.shard}: not routed, holds serving`);
        continue;
      }
      const role = at === 0 ? 'primary' : 'replica';
      if (a?.phase !== 'serving' || a.role !== role || a.reader !== at < readers) {
        out.push(`${node} shard ${s.shard}: routed ${role} reader=${at < readers}, holds ${a?.phase} ${a?.role} reader=${a?.reader}`);
      }
    }
  }
  return out;
}

test('REST, metrics and the agents agree on the routed map, at rest and during two-phase moves of a map with hot shards', async (t) => {
  const ids = ['n0', 'n1', 'n2', 'n3'];
  const all = [...ids, 'n4'];
  const topo = await tempTopology(topology(ids));
  const snapshots = new FedSnapshots();
  snapshots.feed([hotSnapshot(0, 5)]);
  const metrics = createKeywayMetrics();
  const server = await startServer({
    configFile: topo.file,
    httpPort: 0,
    xdsPort: 0,
    host: '127.0.0.1',
    loadSnapshots: snapshots,
    stages: serveStages({ metrics }),
    fileWatch: FILE_WATCH,
  });
  // Warm-ups wait until the test releases them, so the moves stay in transition meanwhile.
  let released = false;
  const waiting = new Set<() => void>();
  const agents = new Map<string, OwnershipAgent>();
  t.after(async () => {
    agents.forEach((a) => a.close());
    await server.close();
    await metrics.shutdown();
    await topo.cleanup();
  });
  for (const id of all) {
    const agent = new OwnershipAgent({
      nodeId: id,
      servers: [`127.0.0.1:${server.listening.xdsPort!}`],
      timing: FAST,
      warm: (_a: Assignment) =>
        new Promise<void>((resolve) => {
          if (released) resolve();
          else waiting.add(resolve);
        }),
    });
    agent.start();
    agents.set(id, agent);
  }
  const url = `http://127.0.0.1:${server.httpPort}`;
  const get = async <T>(p: string): Promise<T> => (await (await fetch(url + p)).json()) as T;
  const keys = keysByShard();
  await eventually('five agents connected', () => get<{ proxies: { flavor: string }[] }>('/v1/proxies'), {
    accept: (b) => b.proxies.filter((p) => p.flavor === 'agent').length === all.length,
  });

  /** Every surface against `/v1/shardmap`; the state does not change meanwhile (no input, warm-ups held). */
  const compare = async (label: string): Promise<ShardMapBody> => {
    const res = await fetch(`${url}/v1/shardmap`);
    const map = (await res.json()) as ShardMapBody;
    const held = () => new Map([...agents].map(([id, a]) => [id, a.assignments()] as const));
    // The agents converge on the routed map (each stream is pushed on the next turn of the loop).
    await eventually(`${label}: agents hold the routed map`, () => agentDisagreements(map, held()), { accept: (d) => d.length === 0, timeoutMs: 10_000 }).catch(() => {
      assert.deepEqual(agentDisagreements(map, held()), [], `${label}: agents`);
    });
    assert.equal((await fetch(`${url}/v1/shardmap`, { headers: { 'if-none-match': res.headers.get('etag')! } })).status, 304, `${label}: same state, same ETag`);
    const readyz = await get<ReadyzBody>('/readyz');
    assert.equal(readyz.version, map.version, `${label}: /readyz version`);
    assert.equal(readyz.ownedShards, map.shards.filter((s) => s.owners.length > 0).length, `${label}: /readyz ownedShards`);
    const exp = parseExposition(await (await fetch(`${url}/metrics`)).text());
    assert.deepEqual(
      exp.find(N.shardMapInfo).map((s) => [s.labels.version, s.value]),
      [[map.version, 1]],
      `${label}: keyway_shardmap_info`,
    );
    for (const e of map.endpoints) {
      const labels = { endpoint: e.id, region: e.locality.region, zone: e.locality.zone, subzone: e.locality.subzone };
      assert.equal(exp.value(N.shardsOwned, labels), e.shardsOwned, `${label}: keyway_shards_owned of ${e.id}`);
      assert.equal(exp.value(N.shardsPrimary, labels), e.shardsPrimary, `${label}: keyway_shards_primary of ${e.id}`);
    }
    assert.equal(exp.value(N.handoffInTransition), map.handoff.transitions.length, `${label}: keyway_handoff_shards_in_transition`);
    assert.equal(exp.value(N.handoffDraining), map.handoff.drains.length, `${label}: keyway_handoff_shards_draining`);
    const spread = map.hotShards.shards.filter((h) => h.reason === 'spread').length;
    assert.equal(exp.value(N.hotShards, { reason: 'spread' }), spread, `${label}: keyway_hot_shards{spread}`);
    assert.equal(exp.value(N.hotShards, { reason: 'bounded-load' }), map.hotShards.shards.length - spread, `${label}: keyway_hot_shards{bounded-load}`);
    for (const s of map.shards) {
      const readers = s.owners.length === 0 ? 0 : (s.readers ?? 1);
      const one = await get<ShardBody>(`/v1/shards/${s.shard}`);
      const lookup = await get<LookupBody>(`/v1/lookup?key=${encodeURIComponent(keys.get(s.shard)!)}`);
      for (const [route, body] of [['/v1/shards', one], ['/v1/lookup', lookup]] as const) {
        assert.deepEqual([body.shard, body.owners, body.readers, body.version], [s.shard, s.owners, readers, map.version], `${label}: ${route} of shard ${s.shard}`);
      }
    }
    return map;
  };

  const steady = await compare('steady');
  assert.ok(steady.shards.some((s) => (s.readers ?? 1) > 1), 'a hot shard is spread');
  assert.equal(steady.handoff.transitions.length, 0);

  // A node joins: its shards stay routed to their previous owners while it warms.
  await topo.write(topology(all));
  await eventually('transitions to n4', () => get<ShardMapBody>('/v1/shardmap'), { accept: (m) => m.handoff.transitions.length > 0 });
  const moving = await compare('n4 warming');
  assert.notEqual(moving.version, moving.handoff.targetVersion, 'the routed map differs from the target');

  // The hot key moves while n4 still warms: a new decision on the same held shards.
  snapshots.feed([hotSnapshot(0, 5), hotSnapshot(1, 9), hotSnapshot(2, 9)]);
  await eventually('shard 9 spread', () => get<ShardMapBody>('/v1/shardmap'), { accept: (m) => (m.shards[9]!.readers ?? 1) > 1 && m.handoff.transitions.length > 0 });
  await compare('n4 warming, hot key moved');

  released = true;
  for (const done of waiting) done();
  waiting.clear();
  await eventually('every move flipped and drained', () => get<ShardMapBody>('/v1/shardmap'), {
    accept: (m) => m.handoff.transitions.length === 0 && m.handoff.drains.length === 0,
  });
  const after = await compare('flipped');
  assert.equal(after.version, after.handoff.targetVersion);
});
