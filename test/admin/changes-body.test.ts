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

test('/v1/changes is serialized once per change: polls between changes are sent the same bytes', async (t) => {
  const state = new ServingState();
  const publish = (endpoints: Endpoint[]) => {
    const previous = state.current()?.map;
    const map = computeShardMap(endpoints, POLICY);
    state.publish({ map, topology: { policy: POLICY, xds: DEFAULT_XDS_SETTINGS, endpoints: map.endpoints }, ...(previous ? { diff: diffShardMaps(previous, map) } : {}) });
  };
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
