/**
 * When a make-before-break phase may end (src/app/grpc-stage-sync.ts): every gRPC client of the class
 * (or Envoy of an Envoy class: the route-table shape is staged too) holds the snapshot's clusters,
 * endpoints and routes at their versions with the latest response ACKed; other classes, and clients
 * holding no route configuration, are not waited for.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Snapshot } from '../../src/xds/cache/index.js';
import type { HeldKind } from '../../src/xds/server/index.js';
import { grpcClassSynced } from '../../src/app/grpc-stage-sync.js';

type Held = Record<'cluster' | 'endpoint' | 'route', [string, string][]>;

function snapshot(held: Held): Snapshot {
  const kind = (pairs: [string, string][]) => ({ version: 'v', resources: new Map(pairs.map(([name, version]) => [name, { name, version }])) });
  return { classKey: 'grpc||', kinds: { cluster: kind(held.cluster), endpoint: kind(held.endpoint), route: kind(held.route), listener: kind([]), assignment: kind([]) } } as unknown as Snapshot;
}

function fixture(rows: { id: string; flavor: string; proxyClass: string; status: string; held: Held }[], want: Held, classKey = 'grpc||') {
  return {
    server: {
      heldByClass: (key: string) =>
        rows
          .filter((r) => r.proxyClass === key)
          .map((r) => (kind: string): HeldKind | undefined => {
            const pairs = r.held[kind as keyof Held];
            return pairs ? ({ status: r.status, sent: new Map(pairs.map(([name, version]) => [name, { name, version }])) } as unknown as HeldKind) : undefined;
          }),
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

test('clients holding the same maps (a shared SotW selection) are judged alike, each kind on its own', () => {
  const shared = (pairs: [string, string][]) => new Map(pairs.map(([name, version]) => [name, { name, version }]));
  const maps = { cluster: shared(want.cluster), endpoint: shared(want.endpoint), route: shared(want.route) };
  const behind = { ...maps, endpoint: shared(stale.endpoint) };
  const client = (held: typeof maps, status = 'SYNCED') => (kind: string) => ({ status, sent: held[kind as keyof typeof maps] }) as unknown as HeldKind;
  const cache = { classes: () => [{ classKey: 'grpc||', snapshot: snapshot(want) }] };
  const check = (...clients: ((kind: string) => HeldKind)[]) => grpcClassSynced({ heldByClass: () => clients }, cache, 'grpc||');
  assert.equal(check(client(maps), client(maps), client(maps)), true);
  assert.equal(check(client(maps), client(maps), client(behind)), false, 'the third holds the same clusters but older endpoints');
  assert.equal(check(client(maps), client(maps, 'STALE')), false, 'the same maps, not ACKed');
});

