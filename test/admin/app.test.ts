import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { FastifyInstance } from 'fastify';
import { buildAdminApp, errorBody } from '../../src/admin/index.js';
import { ServingState } from '../../src/app/serving-state.js';
import { computeShardMap, diffShardMaps, endpointShares, keyToShard } from '../../src/sharding/index.js';
import type { Endpoint } from '../../src/core/endpoint.js';
import type { ShardingPolicy } from '../../src/core/policy.js';
import { DEFAULT_XDS_SETTINGS } from '../../src/core/settings.js';

const POLICY: ShardingPolicy = { shardCount: 32, replicas: 2, spread: 'zone' };

function ep(id: string, zone: string, weight = 10, ready = true): Endpoint {
  return { id, address: '10.0.0.1', port: 7000, locality: { region: 'r', zone, subzone: `${zone}-f` }, weight, ready };
}

function stateWith(endpoints: Endpoint[], policy = POLICY): ServingState {
  const state = new ServingState();
  const map = computeShardMap(endpoints, policy);
  state.publish({ map, topology: { policy, xds: DEFAULT_XDS_SETTINGS, endpoints: map.endpoints } });
  state.setSourceStatus(() => [{ kind: 'file', healthy: true, stale: false, lastUpdate: new Date(0) }]);
  return state;
}

async function app(state: ServingState): Promise<FastifyInstance> {
  const a = await buildAdminApp(state);
  return a;
}

const THREE = [ep('c', 'z2', 5), ep('a', 'z1', 10), ep('b', 'z2', 20)];

test('GET /v1/shardmap has the contract shape, owners primary first, shares per endpoint', async (t) => {
  const state = stateWith(THREE);
  const a = await app(state);
  t.after(() => a.close());
  const res = await a.inject('/v1/shardmap');
  assert.equal(res.statusCode, 200);
  assert.match(res.headers['content-type'] as string, /application\/json/);
  const body = res.json();
  const map = state.current()!.map;
  assert.equal(body.version, map.version);
  assert.equal(body.shardCount, 32);
  assert.equal(body.replicas, 2);
  assert.equal(body.spread, 'zone');
  assert.equal(body.shards.length, 32);
  body.shards.forEach((s: { shard: number; owners: string[] }, i: number) => {
    assert.equal(s.shard, i);
    assert.deepEqual(s.owners, map.owners[i]);
  });
  assert.deepEqual(body.endpoints.map((e: { id: string }) => e.id), ['a', 'b', 'c']);
  const shares = endpointShares(map);
  let owned = 0;
  let primary = 0;
  for (const e of body.endpoints) {
    assert.deepEqual(Object.keys(e).sort(), ['address', 'draining', 'id', 'locality', 'port', 'ready', 'shardsOwned', 'shardsPrimary', 'weight'].sort());
    assert.deepEqual(e.locality, { region: 'r', zone: e.id === 'a' ? 'z1' : 'z2', subzone: e.id === 'a' ? 'z1-f' : 'z2-f' });
    assert.equal(e.shardsOwned, shares.get(e.id)!.owned);
    assert.equal(e.shardsPrimary, shares.get(e.id)!.primary);
    owned += e.shardsOwned;
    primary += e.shardsPrimary;
  }
  assert.equal(owned, 64); // 32 shards x R=2
  assert.equal(primary, 32);
  // With spread zone and one endpoint alone in z1, it owns every shard.
  assert.equal(body.endpoints[0].shardsOwned, 32);
  assert.equal(body.stale, false);
  assert.deepEqual(body.sources, [{ kind: 'file', healthy: true, stale: false, lastUpdate: new Date(0).toISOString() }]);
});

test('GET /v1/shards/{shard}: owners and version; 400 naming the parameter; 404 at or beyond S', async (t) => {
  const state = stateWith(THREE);
  const a = await app(state);
  t.after(() => a.close());
  const map = state.current()!.map;
  const ok = await a.inject('/v1/shards/7');
  assert.equal(ok.statusCode, 200);
  assert.deepEqual(ok.json(), { shard: 7, owners: map.owners[7], version: map.version, readers: 1 });

  for (const bad of ['x', '1.5', '-1', '%20', '0x10', '1e1']) {
    const res = await a.inject(`/v1/shards/${bad}`);
    assert.equal(res.statusCode, 400, bad);
    const body = res.json();
    assert.equal(body.error.code, 'BAD_ARGUMENT');
    assert.equal(body.error.parameter, 'shard');
    assert.match(body.error.message, /"shard" must be a non-negative integer/);
  }
  for (const missing of ['32', '1000000']) {
    const res = await a.inject(`/v1/shards/${missing}`);
    assert.equal(res.statusCode, 404, missing);
    assert.deepEqual(res.json(), errorBody('NOT_FOUND', `shard ${missing} does not exist: shards are 0..31`, 'shard'));
  }
});

test('GET /v1/lookup: the key hashes to its shard and that shard\'s owners; 400 without a key', async (t) => {
  const state = stateWith(THREE);
  const a = await app(state);
  t.after(() => a.close());
  const map = state.current()!.map;
  for (const key of ['user:42', 'user:{42}:emb', 'ü', '']) {
    const res = await a.inject({ url: '/v1/lookup', query: { key } });
    assert.equal(res.statusCode, 200);
    const shard = keyToShard(key, 32);
    assert.deepEqual(res.json(), { key, shard, owners: map.owners[shard], version: map.version, readers: 1 });
  }
  // The hash tag keeps related keys on one shard.
  const s1 = (await a.inject({ url: '/v1/lookup', query: { key: 'user:{42}:emb' } })).json().shard;
  const s2 = (await a.inject({ url: '/v1/lookup', query: { key: 'user:{42}:kv' } })).json().shard;
  assert.equal(s1, s2);

  const res = await a.inject('/v1/lookup');
  assert.equal(res.statusCode, 400);
  assert.deepEqual(res.json().error.parameter, 'key');
  assert.equal(res.json().error.code, 'BAD_ARGUMENT');
});

test('GET /healthz 200; GET /readyz 200 with a map that has owners', async (t) => {
  const a = await app(stateWith(THREE));
  t.after(() => a.close());
  assert.equal((await a.inject('/healthz')).statusCode, 200);
  const res = await a.inject('/readyz');
  assert.equal(res.statusCode, 200);
  const body = res.json();
  assert.equal(body.ready, true);
  assert.equal(body.ownedShards, 32);
  assert.equal(body.readyEndpoints, 3);
  assert.equal(body.stale, false);
});

test('GET /readyz 503 when zero endpoints are ready (every shard ownerless), with the reason', async (t) => {
  const state = stateWith([ep('a', 'z1', 10, false), ep('b', 'z2', 0, true)]);
  const a = await app(state);
  t.after(() => a.close());
  const res = await a.inject('/readyz');
  assert.equal(res.statusCode, 503);
  const body = res.json();
  assert.equal(body.ready, false);
  assert.match(body.reason, /no ready endpoint with weight > 0 among 2: every shard is without owners/);
  assert.equal(body.ownedShards, 0);
  // The map is still served, with empty owner lists.
  const shard = (await a.inject('/v1/shards/3')).json();
  assert.deepEqual(shard.owners, []);
  assert.equal((await a.inject('/healthz')).statusCode, 200);
});

test('before any shard map: /readyz 503 with source detail; map routes 503', async (t) => {
  const state = new ServingState();
  state.setSourceStatus(() => [{ kind: 'kubernetes', healthy: false, stale: true, lastError: 'connect ECONNREFUSED' }]);
  const a = await app(state);
  t.after(() => a.close());
  const res = await a.inject('/readyz');
  assert.equal(res.statusCode, 503);
  assert.match(res.json().reason, /no valid topology/);
  assert.deepEqual(res.json().sources, [{ kind: 'kubernetes', healthy: false, stale: true, lastError: 'connect ECONNREFUSED' }]);
  assert.equal(res.json().stale, true);
  for (const url of ['/v1/shardmap', '/v1/shards/0', '/v1/lookup?key=a']) {
    const r = await a.inject(url);
    assert.equal(r.statusCode, 503, url);
    assert.equal(r.json().error.code, 'SOURCE_UNAVAILABLE');
  }
});

test('/v1/changes lists published moves, newest first', async (t) => {
  const state = stateWith([ep('a', 'z1'), ep('b', 'z2')]);
  const before = state.current()!.map;
  const after = computeShardMap([ep('a', 'z1'), ep('b', 'z2'), ep('c', 'z3', 40)], POLICY);
  const diff = diffShardMaps(before, after);
  state.publish({ map: after, topology: { policy: POLICY, xds: DEFAULT_XDS_SETTINGS, endpoints: after.endpoints }, diff });
  const a = await app(state);
  t.after(() => a.close());
  const body = (await a.inject('/v1/changes')).json();
  assert.equal(body.changes.length, 1);
  assert.equal(body.changes[0].fromVersion, before.version);
  assert.equal(body.changes[0].toVersion, after.version);
  assert.ok(diff.moves.length > 0);
  assert.equal(body.changes[0].movedShards, diff.moves.length);
  assert.ok(body.changes[0].moves.every((m: { to: string[] }) => m.to.includes('c')), 'a join moves shards only to the new endpoint');
});

test('extra routes from other stages are served, and unknown routes get the error body', async (t) => {
  const state = stateWith(THREE);
  const a = await buildAdminApp(state, {
    routes: [
      async (app) => {
        app.get('/v1/proxies', async () => ({ proxies: [], version: state.current()!.map.version }));
      },
    ],
  });
  t.after(() => a.close());
  const res = await a.inject('/v1/proxies');
  assert.equal(res.statusCode, 200);
  assert.equal(res.json().version, state.current()!.map.version);
  const missing = await a.inject('/v2/nothing');
  assert.equal(missing.statusCode, 404);
  assert.equal(missing.json().error.code, 'NOT_FOUND');
});

test('a real listener on 127.0.0.1:0 answers over HTTP', async (t) => {
  const a = await app(stateWith(THREE));
  t.after(() => a.close());
  await a.listen({ host: '127.0.0.1', port: 0 });
  const address = a.server.address();
  assert.ok(address && typeof address === 'object');
  const res = await fetch(`http://127.0.0.1:${address.port}/v1/lookup?key=${encodeURIComponent('user:{7}')}`);
  assert.equal(res.status, 200);
  const body = (await res.json()) as { key: string; shard: number };
  assert.equal(body.key, 'user:{7}');
  assert.equal(body.shard, keyToShard('7', 32));
  const bad = await fetch(`http://127.0.0.1:${address.port}/v1/shards/abc`);
  assert.equal(bad.status, 400);
  assert.equal(((await bad.json()) as { error: { parameter: string } }).error.parameter, 'shard');
});

test('handoff: /v1/shardmap shows the shards in transition and drains; /v1/handoff tells one node where it stands', async (t) => {
  const { stepHandoff } = await import('../../src/sharding/handoff.js');
  const { WarmLedger } = await import('../../src/sharding/warm-ledger.js');
  const { DEFAULT_HANDOFF_SETTINGS } = await import('../../src/core/handoff.js');
  const before = computeShardMap(THREE, POLICY);
  const leaving = THREE.map((e) => (e.id === 'b' ? { ...e, ready: false, draining: true } : e));
  const target = computeShardMap(leaving, POLICY);
  const plan = (previous: Parameters<typeof stepHandoff>[0]['previous'], map: typeof target, now: number, warm = new WarmLedger()) =>
    stepHandoff({ previous, target: map, warm, warmers: new Set(['a', 'b', 'c']), agentsExpected: true, settings: DEFAULT_HANDOFF_SETTINGS, now });
  const s0 = plan(undefined, before, 0);
  const s1 = plan(s0, target, 1_000);
  assert.ok(s1.state.transitions.length > 0);
  const state = new ServingState();
  const publish = (s: typeof s1): void => {
    state.publish({ map: s.routed, handoff: s.state, topology: { policy: POLICY, xds: DEFAULT_XDS_SETTINGS, endpoints: s.routed.endpoints } });
  };
  publish(s1);
  state.setSourceStatus(() => []);
  const a = await app(state);
  t.after(() => a.close());

  const body = (await a.inject('/v1/shardmap')).json();
  assert.equal(body.handoff.enabled, true);
  assert.equal(body.handoff.targetVersion, target.version);
  assert.notEqual(body.version, target.version, 'the routed map differs from the target while shards are in transition');
  assert.deepEqual(body.handoff.transitions.map((x: { shard: number }) => x.shard), s1.state.transitions.map((x) => x.shard));
  const first = body.handoff.transitions[0];
  assert.equal(first.from[0], 'b');
  assert.equal(first.startedAt, new Date(1_000).toISOString());
  assert.equal(first.deadline, new Date(1_000 + DEFAULT_HANDOFF_SETTINGS.warmTimeoutMs).toISOString());
  assert.equal(body.shards[first.shard].owners[0], 'b', 'shards show the routed owners');
  assert.equal(body.endpoints.find((e: { id: string }) => e.id === 'b').draining, true);

  const b1 = (await a.inject('/v1/handoff?node=b')).json();
  assert.equal(b1.draining, true);
  assert.equal(b1.handingOff, s1.state.transitions.length);
  assert.equal(b1.handedOff, false);
  const warming = (await a.inject(`/v1/handoff?node=${first.warming}`)).json();
  assert.equal(warming.warming, s1.state.transitions.filter((x) => x.warming === first.warming).length);

  // Every new primary reports warm: b serves nothing any more, it is handed off and drains.
  const warm = new WarmLedger();
  for (const x of s1.state.transitions) warm.record(x.warming, [x.shard], 1_500);
  publish(plan(s1, target, 2_000, warm));
  const b2 = (await a.inject('/v1/handoff?node=b')).json();
  assert.deepEqual([b2.routedShards, b2.handingOff, b2.handedOff], [0, 0, true]);
  assert.ok(b2.drainingShards > 0);
  const after = (await a.inject('/v1/shardmap')).json();
  assert.deepEqual(after.handoff.transitions, []);
  assert.equal(after.version, target.version);
  assert.ok(after.handoff.drains.every((d: { node: string }) => d.node === 'b'));

  const unknown = await a.inject('/v1/handoff?node=zz');
  assert.equal(unknown.statusCode, 404);
  assert.equal(unknown.json().error.parameter, 'node');
  assert.equal((await a.inject('/v1/handoff')).statusCode, 400);
  const empty = await a.inject('/v1/handoff?node=');
  assert.deepEqual([empty.statusCode, empty.json().error.code, empty.json().error.parameter], [400, 'BAD_ARGUMENT', 'node']);
});
