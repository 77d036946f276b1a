// The runner applies the hot-shard policy between sharding and the handoff planner
// (docs/hot-shards.md): a load snapshot spreads a hot shard, a new snapshot re-decides, and with no
// snapshot the map is plain rendezvous again.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { metricsStage, startServer } from '../../src/app/index.js';
import { createKeywayMetrics, KEYWAY_METRICS as N } from '../../src/telemetry/index.js';
import { parseExposition } from '../telemetry/support/exposition.js';
import type { LoadSnapshot } from '../../src/core/load.js';
import { FedSnapshots } from '../support/fed-snapshots.js';
import { shardReaders } from '../../src/core/shard-map.js';
import { computeShardMap, hotShardChanges } from '../../src/sharding/index.js';
import type { OpenApiDocument } from '../../src/admin/openapi/index.js';
import type { ShardBody, ShardMapBody } from '../../src/admin/api-types.js';
import { bodyValidator } from '../admin/openapi/openapi-shape.js';
import { eventually } from '../support/eventually.js';
import { captureLogs, tempTopology, topologyText } from './support.js';

/** Shard 5 carries 60% of 1000 rps; the rest spread evenly. */
function hotSnapshot(i: number, hotShard = 5): LoadSnapshot {
  const shards = Array.from({ length: 64 }, (_, s) => ({ shard: s, requests: s === hotShard ? 600 : 400 / 63 }));
  return { windowStartMs: 1_700_000_000_000 + i * 10_000, windowMs: 10_000, shards, nodes: [] };
}

test('load snapshots spread a hot shard in the published map; without them the map is plain rendezvous', async (t) => {
  const topo = await tempTopology(topologyText({ ready: [true, true, true, true], replicas: 2 }));
  const snapshots = new FedSnapshots();
  snapshots.feed([hotSnapshot(0)]);
  const metrics = createKeywayMetrics();
  const server = await startServer({ configFile: topo.file, httpPort: 0, host: '127.0.0.1', loadSnapshots: snapshots, stages: [metricsStage(metrics)] });
  t.after(async () => {
    await server.close();
    await metrics.shutdown();
    await topo.cleanup();
  });
  const first = server.state.current()!;
  const plain = computeShardMap(first.map.endpoints, first.map.policy);
  assert.notEqual(first.map.version, plain.version, 'the hot map has its own version');
  assert.equal(shardReaders(first.map, 5), 4, 'shard 5 (0.6 of all requests) is read by all 4 nodes');
  assert.deepEqual(first.map.owners[5]!.slice(0, 2), plain.owners[5], 'the rendezvous owners come first');
  const hot5 = first.hotShards?.shards.find((h) => h.shard === 5);
  assert.equal(hot5?.reason, 'spread');
  assert.match(hot5!.explanation, /spread to 4 readers/);

  // REST says why (docs/api.md), in the documented shapes.
  const get = async <T>(path: string): Promise<T> => (await (await fetch(`http://127.0.0.1:${server.httpPort}${path}`)).json()) as T;
  const doc = await get<OpenApiDocument>('/openapi.json');
  const check = bodyValidator(doc);
  const body = await get<ShardMapBody>('/v1/shardmap');
  assert.equal(check({ $ref: '#/components/schemas/ShardMap' }, body), undefined);
  assert.equal(body.shards[5]!.readers, 4);
  assert.equal(body.shards.find((s) => s.shard !== 5 && s.readers !== undefined && !first.hotShards!.shards.some((h) => h.shard === s.shard)), undefined);
  assert.deepEqual(body.hotShards.shards.find((h) => h.shard === 5)?.explanation, hot5!.explanation);
  assert.ok(body.hotShards.window === new Date(1_700_000_000_000).toISOString());
  assert.ok(body.hotShards.maxLoadRatio! < body.hotShards.plainMaxLoadRatio!, 'the policy lowers the busiest node');
  const shard5 = await get<ShardBody>('/v1/shards/5');
  assert.equal(check({ $ref: '#/components/schemas/ShardOwners' }, shard5), undefined);
  assert.equal(shard5.readers, 4);
  assert.equal(shard5.hotShard?.reason, 'spread');
  const exp = parseExposition(await (await fetch(`http://127.0.0.1:${server.httpPort}/metrics`)).text());
  const spread = first.hotShards!.shards.filter((h) => h.reason === 'spread').length;
  assert.equal(exp.value(N.hotShards, { reason: 'spread' }), spread);
  // The first decision counts every shard it changed from plain rendezvous.
  assert.equal(exp.value(N.hotShardMoves), first.hotShards!.shards.length);
  assert.ok(first.hotShards!.shards.length > 0);

  // The hot key moves to shard 9: a new snapshot re-decides and republishes.
  snapshots.feed([hotSnapshot(0), hotSnapshot(1, 9), hotSnapshot(2, 9)]);
  const moved = await eventually('shard 9 spread', () => {
    const v = server.state.current()!;
    return shardReaders(v.map, 9) > 1 ? v : undefined;
  });
  assert.equal(moved.cause?.source, 'load');
  assert.ok(moved.diff!.moves.some((m) => m.shard === 9 && m.toReaders! > 1), 'the diff shows the new readers');
  const after = parseExposition(await (await fetch(`http://127.0.0.1:${server.httpPort}/metrics`)).text());
  assert.equal(after.value(N.hotShardMoves), first.hotShards!.shards.length + hotShardChanges(first.hotShards, moved.hotShards!), 'the counter adds the shards the new decision changed');

  // Reports stopped: the source has no snapshot left, the map is plain rendezvous again.
  snapshots.feed([]);
  const back = await eventually('plain map', () => {
    const v = server.state.current()!;
    return v.map.version === plain.version ? v : undefined;
  });
  assert.equal(back.hotShards, undefined);
  assert.equal(back.map.readers, undefined);
  const plainBody = await get<ShardMapBody>('/v1/shardmap');
  assert.deepEqual(plainBody.hotShards, { shards: [], moves: 0, deferred: 0 });
  assert.equal(check({ $ref: '#/components/schemas/ShardMap' }, plainBody), undefined);
  const changes = await get<{ changes: unknown[] }>('/v1/changes');
  assert.equal(check({ $ref: '#/components/schemas/Changes' }, changes), undefined);
});

test('hotShards.enabled: false keeps plain rendezvous whatever the load', async (t) => {
  const topo = await tempTopology(topologyText({ ready: [true, true, true, true], extra: 'hotShards: {enabled: false}' }));
  const snapshots = new FedSnapshots();
  snapshots.feed([hotSnapshot(0)]);
  const server = await startServer({ configFile: topo.file, httpPort: 0, host: '127.0.0.1', loadSnapshots: snapshots });
  t.after(async () => {
    await server.close();
    await topo.cleanup();
  });
  const view = server.state.current()!;
  assert.equal(view.map.version, computeShardMap(view.map.endpoints, view.map.policy).version);
  assert.equal(view.hotShards, undefined);
});

test('a decision that changes more shards than the churn budget is logged: here the load history jumped ahead', async (t) => {
  const topo = await tempTopology(topologyText({ ready: [true, true, true, true], extra: 'hotShards: {maxMovesPerWindow: 1}' }));
  const snapshots = new FedSnapshots();
  snapshots.feed([hotSnapshot(0)]);
  const { logger, records } = captureLogs('info');
  const server = await startServer({ configFile: topo.file, httpPort: 0, host: '127.0.0.1', loadSnapshots: snapshots, logger });
  t.after(async () => {
    await server.close();
    await topo.cleanup();
  });
  assert.equal(shardReaders(server.state.current()!.map, 5), 4);
  const over = () => records.filter((r) => r.msg.startsWith('hot shards: the decision changed more shards than the churn budget'));
  // The next window, the same load: within the budget, nothing logged.
  snapshots.feed([hotSnapshot(0), hotSnapshot(1)]);
  // Then a source that lost the windows in between: only much later ones, with the hot key on shard 9.
  snapshots.feed([hotSnapshot(500, 9), hotSnapshot(501, 9)]);
  await eventually('shard 9 spread', () => shardReaders(server.state.current()!.map, 9) > 1 || undefined);
  const warned = await eventually('the warning', () => over()[0]);
  assert.equal(warned.budget, 1);
  assert.ok((warned.changed as number) >= 2, `changed ${String(warned.changed)}`);
  assert.equal(over().length, 1, 'only the jump was over the budget');
});
