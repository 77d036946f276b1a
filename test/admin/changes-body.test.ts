/**
 * `GET /v1/changes` lists every moved shard of the last 32 changes: at S = 131072 that reaches
 * 100 MB of JSON. It is serialized once per change and every client is sent the same bytes, so
 * polls between changes cost neither an event-loop stall nor a copy per client.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildAdminApp } from '../../src/admin/index.js';
import { ServingState } from '../../src/app/serving-state.js';
import { computeShardMap, diffShardMaps } from '../../src/sharding/index.js';
import type { Endpoint } from '../../src/core/endpoint.js';
import type { ShardingPolicy } from '../../src/core/policy.js';
import { DEFAULT_XDS_SETTINGS } from '../../src/core/settings.js';

const POLICY: ShardingPolicy = { shardCount: 64, replicas: 2, spread: 'zone' };
const ep = (id: string, zone: string): Endpoint => ({ id, address: '10.0.0.1', port: 7000, locality: { region: 'r', zone, subzone: `${zone}-f` }, weight: 10, ready: true });

/** A state and a publish that records each new map's diff against the one before, as the runner does. */
function publishing(): { state: ServingState; publish: (endpoints: Endpoint[]) => void } {
  const state = new ServingState();
  const publish = (endpoints: Endpoint[]) => {
    const previous = state.current()?.map;
    const map = computeShardMap(endpoints, POLICY);
    state.publish({ map, topology: { policy: POLICY, xds: DEFAULT_XDS_SETTINGS, endpoints: map.endpoints }, ...(previous ? { diff: diffShardMaps(previous, map) } : {}) });
  };
  return { state, publish };
}

test('/v1/changes is serialized once per change: polls between changes are sent the same bytes', async (t) => {
  const { state, publish } = publishing();
  publish([ep('a', 'z1'), ep('b', 'z2')]);
  publish([ep('a', 'z1'), ep('b', 'z2'), ep('c', 'z3')]);
  const a = await buildAdminApp(state);
  t.after(() => a.close());
  const sent: unknown[] = [];
  a.addHook('onSend', async (request, _reply, payload) => {
    if (request.url === '/v1/changes') sent.push(payload);
    return payload;
  });

  const first = await a.inject('/v1/changes');
  const second = await a.inject('/v1/changes');
  assert.equal(first.statusCode, 200);
  assert.match(first.headers['content-type'] as string, /^application\/json; charset=utf-8$/);
  assert.equal(second.body, first.body);
  assert.equal(first.json().changes.length, 1);
  assert.ok(Buffer.isBuffer(sent[0]) && sent[1] === sent[0], 'one serialized body, shared');

  // A new change is a new body, newest first.
  publish([ep('a', 'z1'), ep('c', 'z3')]);
  const third = await a.inject('/v1/changes');
  assert.equal(third.json().changes.length, 2);
  assert.equal(third.json().changes[1].toVersion, first.json().changes[0].toVersion);
  assert.notEqual(sent[2], sent[0]);
});

/** A state whose history holds two changes: c joins (64 shards, R = 2), then a leaves. */
function twoChanges(): { state: ServingState; publish: (endpoints: Endpoint[]) => void } {
  const { state, publish } = publishing();
  publish([ep('a', 'z1'), ep('b', 'z2')]);
  publish([ep('a', 'z1'), ep('b', 'z2'), ep('c', 'z3')]);
  publish([ep('b', 'z2'), ep('c', 'z3')]);
  return { state, publish };
}

test('/v1/changes?moves=N lists the first N moves of each change, all counted, with the largest primary hand-overs', async (t) => {
  const { state } = twoChanges();
  const a = await buildAdminApp(state);
  t.after(() => a.close());
  const whole = (await a.inject('/v1/changes')).json();
  // The default answer is unchanged: every move, no summary.
  assert.ok(whole.changes.every((c: { primaries?: unknown; moves: unknown[]; movedShards: number }) => c.primaries === undefined && c.moves.length === c.movedShards));
  for (const n of [0, 2, 1000]) {
    const res = await a.inject(`/v1/changes?moves=${n}`);
    assert.equal(res.statusCode, 200);
    const bounded = res.json();
    assert.equal(bounded.changes.length, whole.changes.length);
    bounded.changes.forEach((c: { moves: unknown[]; movedShards: number; primaries: { from?: string; to?: string; shards: number }[] }, i: number) => {
      const w = whole.changes[i];
      assert.equal(c.movedShards, w.movedShards, 'movedShards counts them all');
      assert.deepEqual(c.moves, w.moves.slice(0, n));
      // The hand-overs the whole list gives, counted here.
      const pairs = new Map<string, number>();
      for (const m of w.moves as { from: string[]; to: string[] }[]) {
        if (m.from[0] !== m.to[0]) pairs.set(`${m.from[0]}>${m.to[0]}`, (pairs.get(`${m.from[0]}>${m.to[0]}`) ?? 0) + 1);
      }
      const top = [...pairs].sort((x, y) => y[1] - x[1]).slice(0, 3);
      assert.deepEqual(c.primaries.map((p) => [`${p.from}>${p.to}`, p.shards]), top);
      assert.ok(top.length > 0);
    });
  }
  // a leaving hands its primaries to b and c.
  assert.deepEqual(new Set((await a.inject('/v1/changes?moves=0')).json().changes[0].primaries.map((p: { from: string }) => p.from)), new Set(['a']));
});

test('/v1/changes?moves=N is serialized once per history and N; an N past the largest change shares one body', async (t) => {
  const { state, publish } = twoChanges();
  const a = await buildAdminApp(state);
  t.after(() => a.close());
  const sent: unknown[] = [];
  a.addHook('onSend', async (request, _reply, payload) => {
    if (request.url.startsWith('/v1/changes')) sent.push(payload);
    return payload;
  });
  await a.inject('/v1/changes?moves=0');
  await a.inject('/v1/changes?moves=0');
  await a.inject('/v1/changes?moves=999');
  await a.inject('/v1/changes?moves=1000');
  assert.ok(Buffer.isBuffer(sent[0]) && sent[1] === sent[0], 'moves=0: one body, shared');
  assert.ok(sent[2] !== sent[0] && sent[3] === sent[2], 'both past 64 moves: one body');
  publish([ep('b', 'z2'), ep('c', 'z3'), ep('d', 'z1')]);
  await a.inject('/v1/changes?moves=0');
  assert.notEqual(sent[4], sent[0], 'a new change, a new body');
  assert.equal(JSON.parse(String(sent[4])).changes.length, 3);
});

test('/v1/changes?moves= takes digits from 0 to 1000, once; anything else is 400 naming "moves"', async (t) => {
  const { state } = twoChanges();
  const a = await buildAdminApp(state);
  t.after(() => a.close());
  assert.equal((await a.inject('/v1/changes?moves=007')).json().changes[0].moves.length, 7);
  for (const raw of ['0x1', '%20', '1e3', '5%20', '%205', '1.0', '-1', '', '1,2', '1001', '9'.repeat(400), '1&moves=2']) {
    const res = await a.inject(`/v1/changes?moves=${raw}`);
    assert.equal(res.statusCode, 400, `moves=${raw}: ${res.body}`);
    const { error } = res.json();
    assert.deepEqual([error.code, error.parameter], ['BAD_ARGUMENT', 'moves'], raw);
    assert.match(error.message, raw === '1&moves=2' ? /given 2 times/ : /must be an integer from 0 to 1000, got "/);
    assert.ok(error.message.length < 200, 'the message quotes the value cut');
  }
  // Other parameters are ignored, as before.
  assert.equal((await a.inject('/v1/changes?x=1')).statusCode, 200);
});

test('/v1/changes?moves=0 leaves out the side without an owner: every node gone, the shards\' primaries go to none', async (t) => {
  const { state, publish } = twoChanges();
  publish([]);
  const a = await buildAdminApp(state);
  t.after(() => a.close());
  const [gone] = (await a.inject('/v1/changes?moves=0')).json().changes;
  assert.equal(gone.movedShards, POLICY.shardCount);
  assert.deepEqual(
    gone.primaries.map((p: { from?: string; to?: string }) => [p.from, 'to' in p]),
    [...new Set(gone.primaries.map((p: { from: string }) => p.from))].map((from) => [from, false]),
  );
  assert.equal(gone.primaries.reduce((n: number, p: { shards: number }) => n + p.shards, 0), POLICY.shardCount, 'b and c were primary of all 64');
});
