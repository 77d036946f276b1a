import { test } from 'node:test';
import assert from 'node:assert/strict';
import { equals, fromBinary } from '@bufbuild/protobuf';
import { AnySchema, anyUnpack } from '@bufbuild/protobuf/wkt';
import { ResourceEncoder, SnapshotCache, referencedNames } from '../../../src/xds/cache/index.js';
import { checkConsistency } from '../../../src/xds/translator/index.js';
import { KeywayError } from '../../../src/core/errors.js';
import { ClusterLoadAssignmentSchema } from '../../../src/xds/proto.js';
import type { ProxyClass, ResourceKind } from '../../../src/xds/resources.js';
import {
  apiListener,
  edsCluster,
  loadAssignment,
  miniSet,
  resourceSet,
  routeTo,
  shardRoutes,
  tcpListener,
  type MiniTopology,
} from '../../support/xds-client/resources.js';

const envoyA: ProxyClass = { flavor: 'envoy', zone: 'z1', subzone: 'nvl-1' };
const grpcA: ProxyClass = { flavor: 'grpc', zone: 'z1', subzone: 'nvl-1' };
const base: MiniTopology = { clusters: { c0: [9001, 9002], c1: [9003] } };

test('two cache instances on the same input serve identical versions (content-derived)', () => {
  const a = new SnapshotCache({ build: () => miniSet(base), checkConsistency });
  const b = new SnapshotCache({ build: () => miniSet(base), checkConsistency });
  const sa = a.snapshot(envoyA)!;
  const sb = b.snapshot(envoyA)!;
  assert.equal(sa.version, sb.version);
  for (const kind of ['cluster', 'endpoint', 'listener', 'route'] as const) {
    assert.equal(sa.kinds[kind].version, sb.kinds[kind].version, kind);
    assert.deepEqual(
      [...sa.kinds[kind].resources.values()].map((r) => [r.name, r.version]),
      [...sb.kinds[kind].resources.values()].map((r) => [r.name, r.version]),
    );
    assert.ok(sa.kinds[kind].resources.size > 0);
  }
  // A different input changes only what it touches.
  const c = new SnapshotCache({ build: () => miniSet({ clusters: { c0: [9001, 9002], c1: [9004] } }), checkConsistency });
  const sc = c.snapshot(envoyA)!;
  assert.notEqual(sc.kinds.endpoint.version, sa.kinds.endpoint.version);
  assert.equal(sc.kinds.endpoint.resources.get('c0')!.version, sa.kinds.endpoint.resources.get('c0')!.version);
  assert.notEqual(sc.kinds.endpoint.resources.get('c1')!.version, sa.kinds.endpoint.resources.get('c1')!.version);
  assert.equal(sc.kinds.cluster.version, sa.kinds.cluster.version);
  assert.equal(sc.kinds.listener.version, sa.kinds.listener.version);
  assert.equal(sc.kinds.route.version, sa.kinds.route.version);
});

test('encoded resources: Any-packed once, decodable, and the same object across rebuilds and classes', () => {
  let topo: MiniTopology = base;
  const cache = new SnapshotCache({ build: () => miniSet(topo), checkConsistency });
  const stop = [cache.watch(envoyA, 'endpoint', () => {}), cache.watch(grpcA, 'endpoint', () => {})];
  const s1 = cache.snapshot(envoyA)!;
  const g1 = cache.snapshot(grpcA)!;
  const c0 = s1.kinds.endpoint.resources.get('c0')!;
  // Same content in two classes: one object, one packing.
  assert.equal(g1.kinds.endpoint.resources.get('c0'), c0);
  const packedAfterFirst = cache.packedCount;
  assert.equal(packedAfterFirst, 2 + 2 + 1 + 1, 'each distinct resource packed once for both classes');

  // The bytes are a serialized Any that unpacks to the resource.
  const any = fromBinary(AnySchema, c0.bytes);
  assert.equal(any.typeUrl, 'type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment');
  const cla = anyUnpack(any, ClusterLoadAssignmentSchema)!;
  assert.ok(equals(ClusterLoadAssignmentSchema, cla, loadAssignment('c0', [{ port: 9001 }, { port: 9002 }]).message as never));

  topo = { clusters: { c0: [9001, 9002], c1: [9009] } };
  cache.rebuild();
  const s2 = cache.snapshot(envoyA)!;
  assert.equal(s2.kinds.endpoint.resources.get('c0'), c0, 'unchanged resource keeps its object');
  assert.equal(s2.kinds.endpoint.resources.get('c0')!.bytes, c0.bytes, 'and its bytes');
  assert.equal(s2.kinds.cluster.version, s1.kinds.cluster.version);
  assert.notEqual(s2.kinds.endpoint.resources.get('c1'), s1.kinds.endpoint.resources.get('c1'));
  assert.equal(cache.packedCount, packedAfterFirst + 1, 'only the changed CLA was packed again');

  // An unchanged rebuild keeps the very same snapshot object.
  cache.rebuild();
  assert.equal(cache.snapshot(envoyA), s2);
  stop.forEach((s) => s());
});

test('an inconsistent snapshot is rejected with SNAPSHOT_INCONSISTENT and the previous one stays', () => {
  let broken = false;
  const cache = new SnapshotCache({
    checkConsistency,
    build: () =>
      broken
        ? resourceSet({
            cluster: [edsCluster('c0'), edsCluster('c9')],
            endpoint: [loadAssignment('c0', [{ port: 1 }])],
            listener: [apiListener('cache.svc', 'missing-route')],
            route: [routeTo('cache-route', 'c0')],
          })
        : miniSet({ clusters: { c0: [1] } }),
  });
  const stop = cache.watch(envoyA, 'cluster', () => assert.fail('no watcher may fire for a rejected snapshot'));
  const before = cache.snapshot(envoyA)!;
  broken = true;
  const report = cache.rebuild();
  const err = report.classes[0]!.error;
  assert.ok(err instanceof KeywayError);
  assert.equal(err.code, 'SNAPSHOT_INCONSISTENT');
  assert.match(err.message, /cluster c9: its endpoints c9 are missing/);
  assert.match(err.message, /listener cache.svc: its route configuration missing-route is missing/);
  assert.equal(cache.snapshot(envoyA), before, 'previous snapshot still served');
  assert.equal(cache.classes()[0]!.lastError, err);
  stop();

  // A class whose first build is inconsistent has no snapshot at all.
  const fresh = new SnapshotCache({ build: () => resourceSet({ cluster: [edsCluster('lonely')] }), checkConsistency });
  assert.equal(fresh.snapshot(grpcA), undefined);
  assert.equal((fresh.classes()[0]!.lastError as KeywayError).code, 'SNAPSHOT_INCONSISTENT');
});

test('the injected consistency check decides', () => {
  const seen: number[] = [];
  const cache = new SnapshotCache({
    build: () => miniSet(base),
    checkConsistency: (set) => {
      seen.push(set.cluster.length);
      return ['translator says no'];
    },
  });
  assert.equal(cache.snapshot(envoyA), undefined);
  assert.deepEqual(seen, [2]);
  assert.match(cache.classes()[0]!.lastError!.message, /translator says no/);
});

test('referencedNames: EDS service name or cluster name; RDS names from filter chains and API listeners; clusters of routes', () => {
  assert.deepEqual(referencedNames(edsCluster('c0').message), ['c0']);
  assert.deepEqual(referencedNames(edsCluster('c0', { serviceName: 'svc-0' }).message), ['svc-0']);
  assert.deepEqual(referencedNames(apiListener('cache.svc', 'r1').message), ['r1']);
  assert.deepEqual(referencedNames(tcpListener('http', 10000, 'r2').message), ['r2']);
  assert.deepEqual(referencedNames(routeTo('r', 'c').message), ['c']);
  assert.deepEqual(referencedNames(shardRoutes('r', { '1': 'c1', '2': 'c2', '3': 'c1' }, 'c0').message).sort(), ['c0', 'c1', 'c2'], 'each cluster once');
});

test('watchers: an endpoint-only change wakes only endpoint watchers; a full change wakes all in CDS, EDS, LDS, RDS order', () => {
  let topo: MiniTopology = base;
  const cache = new SnapshotCache({ build: () => miniSet(topo), checkConsistency });
  const fired: ResourceKind[] = [];
  const kinds: ResourceKind[] = ['route', 'listener', 'endpoint', 'cluster']; // registered out of order on purpose
  const stops = kinds.map((k) => cache.watch(envoyA, k, (s) => {
    assert.equal(s, cache.snapshot(envoyA));
    fired.push(k);
  }));
  assert.ok(cache.snapshot(envoyA));

  topo = { clusters: { c0: [9001, 9002], c1: [9005] } };
  cache.rebuild();
  assert.deepEqual(fired, ['endpoint']);

  fired.length = 0;
  cache.rebuild();
  assert.deepEqual(fired, [], 'same content: nobody woken');

  fired.length = 0;
  topo = { clusters: { c0: [9001], c2: [9006] }, listener: 'other.svc', route: 'other-route', routeCluster: 'c2' };
  cache.rebuild();
  assert.deepEqual(fired, ['cluster', 'endpoint', 'listener', 'route']);

  fired.length = 0;
  stops.forEach((s) => s());
  topo = base;
  cache.rebuild();
  assert.deepEqual(fired, [], 'unsubscribed');
  assert.equal(cache.classes().length, 0, 'a class nobody watches is dropped at rebuild');
});

test('each proxy class gets its own build; a new class is built on first use', () => {
  const built: string[] = [];
  const cache = new SnapshotCache({
    checkConsistency,
    build: (cls) => {
      built.push(cls.flavor);
      return miniSet({ clusters: { c0: [cls.flavor === 'grpc' ? 7000 : 8000] } });
    },
  });
  const e = cache.snapshot(envoyA)!;
  const g = cache.snapshot(grpcA)!;
  assert.deepEqual(built, ['envoy', 'grpc']);
  assert.notEqual(e.kinds.endpoint.version, g.kinds.endpoint.version);
  assert.equal(e.kinds.listener.version, g.kinds.listener.version);
  assert.equal(e.classKey, 'envoy|z1|nvl-1');
  // Without a build function there is nothing to serve yet; the first rebuild builds watched classes.
  const empty = new SnapshotCache({ checkConsistency });
  const seen: string[] = [];
  empty.watch(grpcA, 'listener', (s) => seen.push(s.kinds.listener.version));
  assert.equal(empty.snapshot(grpcA), undefined);
  empty.rebuild(() => miniSet(base));
  assert.equal(seen.length, 1);
  assert.equal(empty.snapshot(grpcA)!.kinds.listener.version, seen[0]);
});

test('a build that throws keeps the previous snapshot and reports the error', () => {
  let fail = false;
  const cache = new SnapshotCache({
    checkConsistency,
    build: () => {
      if (fail) throw new Error('translator exploded');
      return miniSet(base);
    },
  });
  const stop = cache.watch(envoyA, 'cluster', () => {});
  const before = cache.snapshot(envoyA);
  fail = true;
  const report = cache.rebuild();
  assert.equal(report.classes[0]!.error?.message, 'translator exploded');
  assert.equal(cache.snapshot(envoyA), before);
  stop();
});

test('servedClass maps proxies that the build treats alike onto one snapshot', () => {
  const built: string[] = [];
  const cache = new SnapshotCache({
    checkConsistency,
    build: (cls) => {
      built.push(`${cls.flavor}|${cls.zone}|${cls.subzone}`);
      return miniSet(base);
    },
    servedClass: (cls) => (cls.flavor === 'envoy' ? { flavor: 'envoy', zone: '', subzone: '' } : cls),
  });
  const a = cache.snapshot(envoyA);
  const b = cache.snapshot({ flavor: 'envoy', zone: 'z9', subzone: 'nvl-9' });
  assert.equal(a, b);
  cache.snapshot(grpcA);
  assert.deepEqual(built, ['envoy||', 'grpc|z1|nvl-1']);
  assert.deepEqual(cache.servedClass(envoyA), { flavor: 'envoy', zone: '', subzone: '' });
});

test('a change seen by more watchers than a slice is announced in slices that yield to the event loop, in order, skipping watchers gone meanwhile', async () => {
  let topo: MiniTopology = base;
  const cache = new SnapshotCache({ build: () => miniSet(topo), checkConsistency, fanOutSlice: 2 });
  const calls: number[] = [];
  const stops = Array.from({ length: 5 }, (_, i) => cache.watch(envoyA, 'endpoint', () => void calls.push(i)));
  topo = { clusters: { c0: [9001], c1: [9003] } };
  const report = cache.rebuild();
  assert.deepEqual(calls, [0, 1], 'the first slice is told at once');
  assert.ok(report.fanOut, 'the rest follows on later turns of the event loop');
  stops[4]!();
  let turned = false;
  setImmediate(() => (turned = true));
  await report.fanOut;
  assert.ok(turned, 'other work ran between the slices');
  assert.deepEqual(calls, [0, 1, 2, 3], 'in order; the watcher that left was not called');
  // Few watchers: told before rebuild() returns, no fan-out promise.
  calls.length = 0;
  topo = base;
  const small = new SnapshotCache({ build: () => miniSet(topo), checkConsistency });
  small.watch(envoyA, 'endpoint', () => void calls.push(9));
  small.snapshot(envoyA);
  topo = { clusters: { c0: [9002], c1: [9003] } };
  assert.equal(small.rebuild().fanOut, undefined);
  assert.deepEqual(calls, [9]);
});

test('a build that hands back the same resource objects keeps the snapshot without checking or packing it again', () => {
  const set = miniSet(base);
  let current = set;
  let checks = 0;
  const cache = new SnapshotCache({
    build: () => current,
    checkConsistency: (s) => {
      checks++;
      return checkConsistency(s);
    },
  });
  cache.watch(envoyA, 'endpoint', () => {});
  const first = cache.snapshot(envoyA)!;
  const packed = cache.packedCount;
  assert.equal(checks, 1);
  current = { ...set, endpoint: [...set.endpoint] }; // new arrays, the same objects
  cache.rebuild();
  assert.equal(cache.snapshot(envoyA), first);
  assert.equal(checks, 1, 'not checked again');
  assert.equal(cache.packedCount, packed);
  current = miniSet(base); // equal content, new objects: checked, and the same snapshot by content
  cache.rebuild();
  assert.equal(checks, 2);
  assert.equal(cache.snapshot(envoyA), first);
});

test('the encoding memo forgets what no snapshot holds and keeps what another class still serves', () => {
  // Two classes; each class's c1 endpoints come from its own entry, the rest is common.
  const ports: Record<string, number> = { envoy: 9003, grpc: 9003 };
  const cache = new SnapshotCache({ build: (c) => miniSet({ clusters: { c0: [9001], c1: [ports[c.flavor]!] } }), checkConsistency });
  cache.watch(envoyA, 'endpoint', () => {});
  cache.watch(grpcA, 'endpoint', () => {});
  cache.snapshot(envoyA);
  cache.snapshot(grpcA);
  const packed = () => cache.packedCount;

  // The grpc class moves c1 away and back while the envoy class still serves 9003: not packed again.
  ports.grpc = 9004;
  cache.rebuild();
  const afterMove = packed();
  ports.grpc = 9003;
  cache.rebuild();
  assert.equal(packed(), afterMove, 'c1 at 9003 was still held by the envoy class');

  // Both move away: 9003 is held by no snapshot and forgotten; coming back packs it again.
  ports.envoy = 9005;
  ports.grpc = 9005;
  cache.rebuild();
  const afterBoth = packed();
  ports.envoy = 9003;
  cache.rebuild();
  assert.equal(packed(), afterBoth + 1, 'forgotten once unheld, so packed anew');
});

test('the encoder forgets, at the next sweep, what it encoded for a snapshot that was never held (a rejected build)', () => {
  const encoder = new ResourceEncoder();
  const held = encoder.encode('endpoint', loadAssignment('c0', [{ port: 9001 }]));
  encoder.hold([held]);
  encoder.encode('endpoint', loadAssignment('c1', [{ port: 9002 }]));
  assert.equal(encoder.size, 2);
  encoder.sweep();
  assert.equal(encoder.size, 1, 'c1 was held by no snapshot');
  encoder.hold([held]);
  encoder.release([held]);
  assert.equal(encoder.size, 1, 'still held once');
  encoder.release([held]);
  assert.equal(encoder.size, 0);
});

test('classes whose free-text zone or fabric holds "|" keep their own snapshots: a stock client in fabric "s|picker" is not the picker class', () => {
  const stock: ProxyClass = { flavor: 'grpc', zone: 'z', subzone: 's|picker' };
  const picker: ProxyClass = { flavor: 'grpc', zone: 'z', subzone: 's', picker: true };
  const slash: ProxyClass = { flavor: 'grpc', zone: 'z\\', subzone: '|s' };
  const other: ProxyClass = { flavor: 'grpc', zone: 'z\\|', subzone: 's' };
  const built: string[] = [];
  const cache = new SnapshotCache({
    build: (c) => {
      built.push(`${c.subzone}${c.picker ? ' (picker)' : ''}`);
      return miniSet({ clusters: { [c.picker ? 'picker' : 'stock']: [9001] } });
    },
    checkConsistency,
  });
  assert.deepEqual([...cache.snapshot(picker)!.kinds.cluster.resources.keys()], ['picker']);
  assert.deepEqual([...cache.snapshot(stock)!.kinds.cluster.resources.keys()], ['stock'], 'the stock class got the picker class cached snapshot');
  cache.snapshot(slash);
  cache.snapshot(other);
  assert.equal(built.length, 4, 'four classes, four builds');
});
