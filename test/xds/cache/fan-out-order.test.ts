// Make-before-break across rebuilds (docs/xds-protocol.md "Per-kind wake-ups", "Fan-out in
// slices"): when a second rebuild comes while the first is still being announced in slices, no
// stream may be sent a kind before the earlier kinds of the same snapshot, e.g. a route naming a
// cluster the stream was not sent yet.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SnapshotCache } from '../../../src/xds/cache/index.js';
import { checkConsistency } from '../../../src/xds/translator/index.js';
import type { ProxyClass } from '../../../src/xds/resources.js';
import { miniSet, type MiniTopology } from '../../support/xds-client/resources.js';
import { Rng, fuzzBudget } from '../../support/seeded-random.js';

const envoy: ProxyClass = { flavor: 'envoy', zone: '', subzone: '' };

test('a route announced late, after a newer rebuild, never names a cluster its stream was not sent yet', async () => {
  let topo: MiniTopology = { clusters: { c1: [9001] }, routeCluster: 'c1' };
  const cache = new SnapshotCache({ build: () => miniSet(topo), checkConsistency, fanOutSlice: 2 });
  const violations: string[] = [];
  const streams = 4;
  for (let i = 0; i < streams; i++) {
    let held = new Set<string>();
    cache.watch(envoy, 'cluster', (s) => (held = new Set(s.kinds.cluster.resources.keys())));
    cache.watch(envoy, 'route', (s) => {
      for (const r of s.kinds.route.resources.values()) {
        for (const c of r.references) if (!held.has(c)) violations.push(`stream ${i}: route names ${c}, held ${[...held].join(',')}`);
      }
    });
    held = new Set(cache.snapshot(envoy)!.kinds.cluster.resources.keys());
  }
  // Two changes in a row, each adding a cluster and routing to it.
  topo = { clusters: { c1: [9001], c2: [9002] }, routeCluster: 'c2' };
  const first = cache.rebuild();
  topo = { clusters: { c1: [9001], c2: [9002], c3: [9003] }, routeCluster: 'c3' };
  const second = cache.rebuild();
  await first.fanOut;
  await second.fanOut;
  assert.deepEqual(violations, []);
});

test('rebuilds coming faster than the slices drain queue each watcher once: the backlog does not grow with them', async () => {
  let port = 9001;
  const cache = new SnapshotCache({ build: () => miniSet({ clusters: { c1: [port] } }), checkConsistency, fanOutSlice: 2 });
  const calls = new Map<number, number>();
  const last = new Map<number, string>();
  const streams = 8;
  for (let i = 0; i < streams; i++) {
    cache.watch(envoy, 'endpoint', (s) => {
      calls.set(i, (calls.get(i) ?? 0) + 1);
      last.set(i, s.kinds.endpoint.version);
    });
  }
  cache.snapshot(envoy);
  const reports = [];
  // 100 endpoint changes in one turn: the first slice goes out, the rest wait for the next turns.
  for (let n = 0; n < 100; n++) {
    port++;
    reports.push(cache.rebuild());
  }
  for (const r of reports) await r.fanOut;
  const most = Math.max(...calls.values());
  assert.ok(most <= 2, `a watcher was called ${most} times for 100 rebuilds of one turn`);
  // Every stream was told of the latest endpoints.
  const latest = cache.snapshot(envoy)!.kinds.endpoint.version;
  assert.deepEqual([...last.values()], Array.from({ length: streams }, () => latest));
});

test('a stream moved to another class hears that class cluster first, even when the class changed only its routes', () => {
  // Proxies of zone z1 are served their own class until the topology forgets the zone; then the
  // class without a zone, which holds a cluster z1's never had.
  let zoneKnown = true;
  let route = 'c1';
  const cache = new SnapshotCache({
    build: (c) => (c.zone === 'z1' ? miniSet({ clusters: { c1: [9001] } }) : miniSet({ clusters: { c1: [9001], c2: [9002] }, routeCluster: route })),
    checkConsistency,
    servedClass: (c) => (zoneKnown ? c : { ...c, zone: '' }),
  });
  const grpcZ1: ProxyClass = { flavor: 'grpc', zone: 'z1', subzone: '' };
  const grpcNone: ProxyClass = { flavor: 'grpc', zone: '', subzone: '' };
  cache.watch(grpcNone, 'route', () => {}); // the class without a zone has clients of its own
  let held = new Set(cache.snapshot(grpcZ1)!.kinds.cluster.resources.keys());
  const violations: string[] = [];
  cache.watch(grpcZ1, 'cluster', (s) => (held = new Set(s.kinds.cluster.resources.keys())));
  cache.watch(grpcZ1, 'route', (s) => {
    for (const r of s.kinds.route.resources.values()) for (const c of r.references) if (!held.has(c)) violations.push(`route names ${c}, held ${[...held].join(',')}`);
  });
  assert.deepEqual([...held], ['c1']);
  // One rebuild: z1 is forgotten (its proxies move), and the class without a zone routes to c2.
  zoneKnown = false;
  route = 'c2';
  cache.rebuild();
  assert.deepEqual(violations, []);
  assert.deepEqual([...held], ['c1', 'c2']);
});

test('random rebuilds during sliced fan-out: every call keeps make-before-break, and every stream ends on the latest snapshot', async () => {
  const { iterations, seed } = fuzzBudget(40);
  const rng = new Rng(seed);
  for (let run = 0; run < iterations; run++) {
    const names = ['c1', 'c2', 'c3', 'c4'];
    const topo = (): MiniTopology => {
      const chosen = names.filter(() => rng.chance(0.6));
      if (chosen.length === 0) chosen.push('c1');
      return { clusters: Object.fromEntries(chosen.map((n) => [n, [9000 + rng.int(3)]])), routeCluster: rng.pick(chosen), statPrefix: rng.pick(['a', 'b']) };
    };
    let current = topo();
    const cache = new SnapshotCache({ build: () => miniSet(current), checkConsistency, fanOutSlice: 1 + rng.int(6) });
    const problems: string[] = [];
    const lastSeen: Map<string, string>[] = [];
    const streams = 1 + rng.int(12);
    for (let i = 0; i < streams; i++) {
      const first = cache.snapshot(envoy)!;
      // What the stream holds: clusters and endpoints by name, route names its listener uses.
      let clusters = new Set(first.kinds.cluster.resources.keys());
      let endpoints = new Set(first.kinds.endpoint.resources.keys());
      const seen = new Map<string, string>();
      lastSeen.push(seen);
      for (const kind of ['cluster', 'endpoint', 'listener', 'route'] as const) {
        cache.watch(envoy, kind, (s) => {
          seen.set(kind, s.kinds[kind].version);
          if (kind === 'cluster') clusters = new Set(s.kinds.cluster.resources.keys());
          if (kind === 'endpoint') {
            endpoints = new Set(s.kinds.endpoint.resources.keys());
            for (const c of clusters) if (!endpoints.has(c)) problems.push(`run ${run} stream ${i}: endpoints miss cluster ${c}`);
          }
          if (kind === 'route') {
            for (const r of s.kinds.route.resources.values()) for (const c of r.references) if (!clusters.has(c)) problems.push(`run ${run} stream ${i}: route to ${c} before the cluster`);
          }
        });
      }
    }
    const waits: (Promise<void> | undefined)[] = [];
    for (let turn = 0; turn < 1 + rng.int(6); turn++) {
      for (let n = 0; n < 1 + rng.int(3); n++) {
        current = topo();
        waits.push(cache.rebuild().fanOut);
      }
      if (rng.chance(0.7)) await new Promise((r) => setImmediate(r));
    }
    await Promise.all(waits);
    assert.deepEqual(problems, []);
    const final = cache.snapshot(envoy)!;
    for (const seen of lastSeen) {
      for (const [kind, version] of seen) assert.equal(version, final.kinds[kind as 'cluster'].version, `run ${run}: ${kind} not the latest`);
    }
  }
});
