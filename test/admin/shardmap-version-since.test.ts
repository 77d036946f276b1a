// `versionSince` of /v1/shardmap: when the map's version came into force in this process. A
// republish of the same version (a reload that changes nothing in the map, a handoff step that
// flips nothing) keeps it, though `updatedAt` moves; a new version moves it, also a version in
// force before (v1 -> v2 -> v1). Clients order replicas' maps by it (docs/clients.md "Several keyway
// replicas"), so it must not look newer on a replica that only republished. The clock is injected.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildAdminApp } from '../../src/admin/index.js';
import type { ShardMapBody } from '../../src/admin/api-types.js';
import { ServingState } from '../../src/app/serving-state.js';
import type { Endpoint } from '../../src/core/endpoint.js';
import { DEFAULT_XDS_SETTINGS } from '../../src/core/settings.js';
import { computeShardMap } from '../../src/sharding/index.js';

const policy = { shardCount: 16, replicas: 1, spread: 'none' } as const;
const node = (id: string): Endpoint => ({ id, address: '10.0.0.1', port: 7000, locality: { region: 'r', zone: 'z', subzone: 's' }, weight: 1, ready: true });
const V1 = computeShardMap([node('a')], policy);
const V2 = computeShardMap([node('a'), node('b')], policy);

/** A serving state on a clock that moves 1 s per publish, and its admin app. */
async function setup(t: { after(fn: () => Promise<void>): void }) {
  let ms = Date.parse('2026-01-01T00:00:00.000Z');
  const state = new ServingState(() => new Date((ms += 1000)));
  const app = await buildAdminApp(state);
  t.after(() => app.close());
  const publish = (map: typeof V1): void => void state.publish({ map, topology: { policy, xds: DEFAULT_XDS_SETTINGS, endpoints: map.endpoints } });
  const get = async (ifNoneMatch?: string) => {
    const res = await app.inject({ url: '/v1/shardmap', headers: ifNoneMatch ? { 'if-none-match': ifNoneMatch } : {} });
    return { status: res.statusCode, etag: String(res.headers.etag), body: res.statusCode === 200 ? (res.json() as ShardMapBody) : undefined };
  };
  return { publish, get };
}

test('a republish of the same version keeps versionSince (updatedAt moves) and the ETag', async (t) => {
  const { publish, get } = await setup(t);
  assert.notEqual(V1.version, V2.version);
  publish(V1);
  const first = await get();
  assert.equal(first.body!.versionSince, '2026-01-01T00:00:01.000Z');
  assert.equal(first.body!.updatedAt, '2026-01-01T00:00:01.000Z');
  publish(V1);
  publish(V1);
  const again = await get();
  assert.equal(again.body!.version, V1.version);
  assert.equal(again.body!.updatedAt, '2026-01-01T00:00:03.000Z');
  assert.equal(again.body!.versionSince, '2026-01-01T00:00:01.000Z', 'the version came into force at the first publish');
  assert.equal(again.etag, first.etag, 'the stamps are left out of the ETag');
  assert.equal((await get(first.etag)).status, 304);
});

test('a new version moves versionSince, and so does a version undone (v1 -> v2 -> v1)', async (t) => {
  const { publish, get } = await setup(t);
  publish(V1);
  const v1 = (await get()).body!;
  publish(V2);
  publish(V2);
  const v2 = (await get()).body!;
  assert.equal(v2.version, V2.version);
  assert.equal(v2.versionSince, '2026-01-01T00:00:02.000Z');
  assert.ok(Date.parse(v2.versionSince) > Date.parse(v1.versionSince));
  publish(V1);
  const undone = (await get()).body!;
  assert.equal(undone.version, V1.version);
  assert.equal(undone.versionSince, '2026-01-01T00:00:04.000Z', 'the undo is a change of its own, newer than v2');
});
