/**
 * `ProxyRegistry.nacking` lists the nodes whose `/v1/proxies` row shows a NACKED type, with those
 * types as the row shows them, without building every row: `/readyz` reads it on every probe, and
 * rows for thousands of proxies took about 100 ms.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Fleet, idOf, stream } from '../../admin/proxy-fleet.js';
import { TypeTracker } from '../../../src/xds/server/proxy-state.js';
import { eventually } from '../../support/eventually.js';
import { keywayWithNackingEnvoy } from './nacking-envoy.js';
import type { ReadyzBody } from '../../../src/admin/api-types.js';

/** What the rows say: each NACKing node with only its NACKED types. */
function fromRows(fleet: Fleet) {
  return fleet.registry.proxies().flatMap((row) => {
    const types = Object.fromEntries(Object.entries(row.types).filter(([, t]) => t?.status === 'NACKED').map(([k, t]) => [k, { status: t!.status, lastNack: t!.lastNack }]));
    return Object.keys(types).length > 0 ? [{ id: row.id, types }] : [];
  });
}

test('nacking() is the NACKing part of the rows: sorted, agents too, the newest stream of each kind decides', () => {
  const fleet = new Fleet();
  for (let i = 999; i >= 0; i--) fleet.connect(idOf(i), { nack: i % 97 === 3, agent: i % 200 === 3 });
  // A node with a second, newer stream that ACKs the route: its row is SYNCED there, so it is not NACKing.
  const older = stream('envoy-x', { nack: true });
  const newer = stream('envoy-x');
  Object.assign(newer, { id: 's-envoy-x-2', startedAt: older.startedAt + 1 });
  fleet.registry.add(older);
  fleet.registry.add(newer);
  // And one whose newer stream NACKs while the older one ACKs.
  const a = stream('envoy-y');
  const b = stream('envoy-y', { nack: true });
  Object.assign(b, { id: 's-envoy-y-2', startedAt: a.startedAt + 1 });
  fleet.registry.add(a);
  fleet.registry.add(b);
  // A kind not yet initialized on the newest stream is shown from the older one.
  const c = stream('envoy-z', { nack: true });
  const d = stream('envoy-z');
  for (const t of d.types.values()) (t as TypeTracker).initialized = false;
  Object.assign(d, { id: 's-envoy-z-2', startedAt: c.startedAt + 1 });
  fleet.registry.add(c);
  fleet.registry.add(d);

  const expected = fromRows(fleet);
  assert.ok(expected.some((p) => p.id === 'envoy-y') && expected.some((p) => p.id === 'envoy-z'));
  assert.ok(!expected.some((p) => p.id === 'envoy-x'));
  assert.ok(expected.some((p) => 'assignment' in p.types), 'an agent NACKs its assignments');
  assert.deepEqual(fleet.registry.nacking(), expected);
});

test('keyway serve: /readyz names the proxy NACKing the endpoints, read through nacking()', async (t) => {
  const k = await keywayWithNackingEnvoy(t, 'envoy-nack');
  const body = await eventually(
    'degraded',
    async () => (await (await fetch(`http://127.0.0.1:${k.server.httpPort}/readyz`)).json()) as ReadyzBody,
    { accept: (b) => b.status === 'degraded', timeoutMs: 5000 },
  );
  const reason = body.reasons.find((r) => r.code === 'proxy_nack');
  assert.match(reason!.message, /1 proxy rejects .*envoy-nack endpoint: malformed IP address/);
});
