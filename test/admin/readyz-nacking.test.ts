/**
 * `/readyz` needs only the proxies that NACK, yet it built the row of every connected proxy (ids,
 * streams, names, ISO times, sorted) to find them: about 100 ms at thousands of proxies, on a probe
 * every kubelet and web view polls. A reader that lists its NACKing nodes alone (`nacking`, the xDS
 * server's) is read through that, and the answer is the same.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildAdminApp } from '../../src/admin/index.js';
import type { NackReader } from '../../src/admin/health-routes.js';
import { ServingState } from '../../src/app/serving-state.js';
import { degradedReasons } from '../../src/core/health.js';
import { DEFAULT_XDS_SETTINGS } from '../../src/core/settings.js';
import { computeShardMap } from '../../src/sharding/index.js';
import { Fleet, idOf } from './proxy-fleet.js';

const POLICY = { shardCount: 16, replicas: 1, spread: 'none' } as const;

function servingState(): ServingState {
  const state = new ServingState();
  const endpoints = ['a', 'b'].map((id) => ({ id, address: '10.0.0.1', port: 7000, locality: { region: 'r', zone: 'z', subzone: 'f' }, weight: 1, ready: true }));
  const map = computeShardMap(endpoints, POLICY);
  state.publish({ map, topology: { policy: POLICY, xds: DEFAULT_XDS_SETTINGS, endpoints: map.endpoints } });
  state.setSourceStatus(() => [{ kind: 'file', healthy: true, stale: false }]);
  return state;
}

test('/readyz reads only the NACKing proxies when the reader can list them, and answers as the rows would', async (t) => {
  const fleet = new Fleet();
  for (let i = 0; i < 3000; i++) fleet.connect(idOf(i), { nack: i % 500 === 7, agent: i % 1000 === 507 });
  const rows = fleet.registry.proxies();
  const nacking = rows.filter((r) => Object.values(r.types).some((ty) => ty?.status === 'NACKED'));
  assert.equal(nacking.length, 6);
  const expected = degradedReasons({ sources: [], proxies: rows });

  const base = fleet.reader();
  let nackReads = 0;
  const reader: NackReader = {
    ...base,
    proxies: () => assert.fail('/readyz built every proxy row'),
    nacking: () => (nackReads++, nacking),
  };
  const app = await buildAdminApp(servingState(), { readers: [{ proxies: reader }] });
  t.after(() => app.close());
  const res = await app.inject('/readyz');
  assert.equal(res.statusCode, 200);
  const body = res.json() as { status: string; reasons: unknown[] };
  assert.equal(body.status, 'degraded');
  assert.deepEqual(body.reasons, expected, 'the same reason as from every row: count and examples');
  assert.ok(nackReads >= 1);
  assert.equal(fleet.wholeLists, 0);
});

test('/readyz still reads the rows of a reader that cannot list its NACKing nodes', async (t) => {
  const fleet = new Fleet();
  fleet.connect(idOf(1));
  fleet.connect(idOf(2), { nack: true });
  const app = await buildAdminApp(servingState(), { readers: [{ proxies: fleet.reader() }] });
  t.after(() => app.close());
  const body = (await app.inject('/readyz')).json() as { status: string; reasons: { code: string; proxies: number }[] };
  assert.equal(body.status, 'degraded');
  assert.deepEqual(body.reasons.map((r) => [r.code, r.proxies]), [['proxy_nack', 1]]);
  assert.equal(fleet.wholeLists, 1);
});
