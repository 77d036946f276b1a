/**
 * When a make-before-break phase may end (src/app/grpc-stage-sync.ts): every gRPC client of the class
 * (or Envoy of an Envoy class: the route-table shape is staged too) holds the snapshot's clusters,
 * endpoints and routes at their versions with the latest response ACKed; other classes, and clients
 * holding no route configuration, are not waited for.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Snapshot } from '../../src/xds/cache/index.js';
import type { ProxyStatus } from '../../src/xds/server/index.js';
import { grpcClassSynced } from '../../src/app/grpc-stage-sync.js';

type Held = Record<'cluster' | 'endpoint' | 'route', [string, string][]>;

function snapshot(held: Held): Snapshot {
  const kind = (pairs: [string, string][]) => ({ version: 'v', resources: new Map(pairs.map(([name, version]) => [name, { name, version }])) });
  return { classKey: 'grpc||', kinds: { cluster: kind(held.cluster), endpoint: kind(held.endpoint), route: kind(held.route), listener: kind([]), assignment: kind([]) } } as unknown as Snapshot;
}

function fixture(rows: { id: string; flavor: string; proxyClass: string; status: string; held: Held }[], want: Held, classKey = 'grpc||') {
  return {
    server: {
      proxies: () =>
        rows.map((r) => ({ id: r.id, flavor: r.flavor, proxyClass: r.proxyClass, types: { cluster: { status: r.status }, endpoint: { status: r.status }, route: { status: r.status } } })) as unknown as ProxyStatus[],
      sentResources: (id: string) => {
        const h = rows.find((r) => r.id === id)?.held;
        const list = (pairs: [string, string][] = []) => pairs.map(([name, version]) => ({ name, version }));
        return h ? ({ cluster: list(h.cluster), endpoint: list(h.endpoint), route: list(h.route), listener: [], assignment: [] } as never) : undefined;
      },
    },
    cache: { classes: () => [{ classKey, snapshot: snapshot(want) }] },
  };
}

const want: Held = { cluster: [['a', '1'], ['b', '1']], endpoint: [['a', '1'], ['b', '1']], route: [['r', '2']] };
const stale: Held = { cluster: [['a', '1']], endpoint: [['a', '1']], route: [['r', '1']] };

test('synced once every gRPC client of the class holds the snapshot, ACKed', () => {
  const ok = fixture([{ id: 'g1', flavor: 'grpc', proxyClass: 'grpc||', status: 'SYNCED', held: want }], want);
  assert.equal(grpcClassSynced(ok.server, ok.cache, 'grpc||'), true);
  const missing = fixture([{ id: 'g1', flavor: 'grpc', proxyClass: 'grpc||', status: 'SYNCED', held: stale }], want);
  assert.equal(grpcClassSynced(missing.server, missing.cache, 'grpc||'), false, 'a staged cluster not held yet');
  const unacked = fixture([{ id: 'g1', flavor: 'grpc', proxyClass: 'grpc||', status: 'STALE', held: want }], want);
  assert.equal(grpcClassSynced(unacked.server, unacked.cache, 'grpc||'), false, 'the latest response not ACKed');
});

test('other classes (an Envoy class among them) and clients without our route configuration are not waited for', () => {
  const f = fixture(
    [
      { id: 'e1', flavor: 'envoy', proxyClass: 'envoy||', status: 'STALE', held: stale },
      { id: 'g2', flavor: 'grpc', proxyClass: 'grpc|z1|', status: 'STALE', held: stale },
      { id: 'g3', flavor: 'grpc', proxyClass: 'grpc||', status: 'STALE', held: { cluster: [], endpoint: [], route: [] } },
    ],
    want,
  );
  assert.equal(grpcClassSynced(f.server, f.cache, 'grpc||'), true);
});

test("an Envoy class (the route-table shape is staged too) waits for its Envoys the same way", () => {
  const behind = fixture([{ id: 'e1', flavor: 'envoy', proxyClass: 'envoy||', status: 'SYNCED', held: stale }], want, 'envoy||');
  assert.equal(grpcClassSynced(behind.server, behind.cache, 'envoy||'), false);
  const ok = fixture([{ id: 'e1', flavor: 'envoy', proxyClass: 'envoy||', status: 'SYNCED', held: want }], want, 'envoy||');
  assert.equal(grpcClassSynced(ok.server, ok.cache, 'envoy||'), true);
});
