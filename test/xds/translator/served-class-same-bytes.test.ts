// Stock gRPC clients' places (zone, fabric) split classes only where the translator's output
// differs (docs/security.md "xDS streams"): the place orders a shard's failover replicas, the owners
// after its readers, so with R = 2 (the default) every place gets the same bytes, and places that
// group the endpoints alike (a fabric that is its whole zone) order them alike. Each class is one
// translation per map change and a snapshot of its own: a fleet of 200 nodes in 40 fabrics, R = 2,
// S = 16384 made 85 classes of identical bytes, 30 s per change and 3.4 GB of heap.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SnapshotCache } from '../../../src/xds/cache/index.js';
import { checkConsistency, effectiveProxyClass, resourceToJson, translate, type TranslatorInput } from '../../../src/xds/translator/index.js';
import { proxyClassKey, type ProxyClass } from '../../../src/xds/resources.js';
import type { Endpoint } from '../../../src/core/endpoint.js';
import { computedInput, endpoint, handInput, locality } from './fixtures.js';

const grpc = (zone: string, subzone: string): ProxyClass => ({ flavor: 'grpc', zone, subzone });

/** `n` nodes, node i in zone z(i % zones) and fabric f(i % fabrics). */
function fleet(n: number, zones: number, fabrics: number): Endpoint[] {
  return Array.from({ length: n }, (_, i) =>
    endpoint(`n${i}`, `10.0.${i >> 8}.${i & 255}`, { locality: locality(`z${i % zones}`, `f${i % fabrics}`) }),
  );
}

/** Every place a client of this fleet can name: its pairs, its zones alone, its fabrics alone, none. */
function places(nodes: readonly Endpoint[]): ProxyClass[] {
  const out = new Map<string, ProxyClass>();
  for (const { locality: l } of nodes) {
    for (const c of [grpc(l.zone, l.subzone), grpc(l.zone, ''), grpc('', l.subzone), grpc('', '')]) out.set(proxyClassKey(c), c);
  }
  return [...out.values()];
}

/** One build per served class and rebuild, as `keyway serve` wires the cache (src/app/xds-stage.ts). */
function servedFleet(input: TranslatorInput, clients: readonly ProxyClass[]): { classes: number; builds: () => number } {
  let builds = 0;
  const cache = new SnapshotCache({
    build: (c) => {
      builds++;
      return translate(input, c);
    },
    checkConsistency,
    servedClass: (c) => effectiveProxyClass(c, input),
  });
  for (const c of clients) cache.watch(c, 'endpoint', () => {});
  builds = 0;
  cache.rebuild();
  return { classes: cache.classes().length, builds: () => builds };
}

const bytes = (input: TranslatorInput, c: ProxyClass): unknown => {
  const set = translate(input, c);
  return [...set.cluster, ...set.endpoint, ...set.listener, ...set.route].map((r) => resourceToJson(r));
};

test('R = 2: every stock gRPC place is one class, translated once per change', () => {
  const nodes = fleet(40, 4, 8);
  const input = computedInput(nodes, { shardCount: 256, replicas: 2, spread: 'zone' });
  const clients = places(nodes);
  assert.ok(clients.length > 20);
  const served = servedFleet(input, clients);
  assert.equal(served.classes, 1, 'one class for every place');
  assert.equal(served.builds(), 1, 'one translation per change');
  for (const c of clients) assert.equal(proxyClassKey(effectiveProxyClass(c, input)), 'grpc||');
});

test('R = 3: places that group the endpoints alike share a class; the others keep theirs', () => {
  // Four zones; z0 and z1 have one fabric each (fabric = zone), z2 and z3 two each.
  const nodes = [
    ...['a', 'b'].map((x, i) => endpoint(`z0-${x}`, `10.0.0.${i + 1}`, { locality: locality('z0', 'f0') })),
    ...['a', 'b'].map((x, i) => endpoint(`z1-${x}`, `10.0.1.${i + 1}`, { locality: locality('z1', 'f1') })),
    ...['a', 'b', 'c', 'd'].map((x, i) => endpoint(`z2-${x}`, `10.0.2.${i + 1}`, { locality: locality('z2', i < 2 ? 'f2' : 'f3') })),
    ...['a', 'b', 'c', 'd'].map((x, i) => endpoint(`z3-${x}`, `10.0.3.${i + 1}`, { locality: locality('z3', i < 2 ? 'f4' : 'f5') })),
  ];
  const input = computedInput(nodes, { shardCount: 256, replicas: 3, spread: 'none' });
  const key = (zone: string, subzone: string): string => proxyClassKey(effectiveProxyClass(grpc(zone, subzone), input));
  assert.equal(key('z0', 'f0'), 'grpc|z0|', 'the fabric is the whole zone');
  assert.equal(key('', 'f0'), 'grpc|z0|', 'the fabric alone groups the same endpoints as its zone');
  assert.equal(key('z2', 'f2'), 'grpc|z2|f2', 'a fabric of a zone with two keeps its class');
  assert.equal(key('', 'f2'), 'grpc||f2');
  const served = servedFleet(input, places(nodes));
  // z0, z1, z2, z3, (z2,f2), (z2,f3), (z3,f4), (z3,f5), ('',f2..f5), none: 13 of 19 places.
  assert.equal(served.classes, 13);
  assert.equal(served.builds(), 13);
});

test('a class a place is served gets what that place would: byte for byte, over many topologies', () => {
  let checked = 0;
  for (const [n, zones, fabrics, replicas] of [
    [12, 1, 1, 3], [12, 1, 3, 3], [12, 2, 2, 3], [12, 2, 4, 3], [12, 3, 6, 3], [12, 3, 6, 4], [12, 2, 4, 2], [9, 3, 3, 5],
  ] as const) {
    const nodes = fleet(n, zones, fabrics);
    const input = computedInput(nodes, { shardCount: 64, replicas, spread: 'none' });
    const clients = [...places(nodes), grpc('nowhere', 'f0'), grpc('z0', 'nowhere')];
    for (const c of clients) {
      const served = effectiveProxyClass(c, input);
      assert.deepEqual(bytes(input, c), bytes(input, served), `${proxyClassKey(c)} served as ${proxyClassKey(served)} (${n} x ${zones} zones x ${fabrics} fabrics, R = ${replicas})`);
      assert.equal(proxyClassKey(effectiveProxyClass(served, input)), proxyClassKey(served), 'a served class is its own');
      checked++;
    }
  }
  assert.ok(checked > 80, `${checked} places checked`);
});

test('a hot shard whose readers leave two owners or more to order splits the places again', () => {
  const nodes = [
    endpoint('a', '10.0.0.1', { locality: locality('z1', 'f1') }),
    endpoint('b', '10.0.0.2', { locality: locality('z1', 'f2') }),
    endpoint('c', '10.0.0.3', { locality: locality('z2', 'f3') }),
    endpoint('d', '10.0.0.4', { locality: locality('z2', 'f4') }),
  ];
  // Owner lists of two except shard 0's four: one reader leaves three to order, two leave two.
  const owners = [['a', 'b', 'c', 'd'], ['b', 'c'], ['c', 'd'], ['d', 'a']];
  const plain = handInput(nodes, owners);
  // (z2, f4) puts d (then c) before b: it reorders shard 0's owners after its readers.
  assert.equal(proxyClassKey(effectiveProxyClass(grpc('z2', 'f4'), plain)), 'grpc|z2|f4');
  const spread = (readers: number): TranslatorInput => ({ ...plain, shardMap: { ...plain.shardMap, readers: new Map([[0, readers]]) } });
  assert.equal(proxyClassKey(effectiveProxyClass(grpc('z2', 'f4'), spread(2))), 'grpc|z2|f4');
  assert.equal(proxyClassKey(effectiveProxyClass(grpc('z2', 'f4'), spread(3))), 'grpc||', 'one owner left to order');
  // (z1, f1) finds b, c, d in rank order already: what a client that says nothing gets.
  assert.equal(proxyClassKey(effectiveProxyClass(grpc('z1', 'f1'), plain)), 'grpc||');
  for (const input of [plain, spread(2), spread(3)]) {
    for (const c of places(nodes)) assert.deepEqual(bytes(input, c), bytes(input, effectiveProxyClass(c, input)), proxyClassKey(c));
  }
});

test('seeded owner lists, readers and places (blank ones too): a served class always gets the same bytes', () => {
  let seed = 7;
  const rand = (n: number): number => {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    return (seed >>> 16) % n;
  };
  const zones = ['', 'z1', 'z2', 'z3'];
  const fabrics = ['', 'f1', 'f2'];
  let merged = 0;
  for (let round = 0; round < 40; round++) {
    const nodes = Array.from({ length: 3 + rand(5) }, (_, i) => endpoint(`n${i}`, `10.0.0.${i + 1}`, { locality: locality(zones[rand(zones.length)]!, fabrics[rand(fabrics.length)]!) }));
    const owners = Array.from({ length: 8 }, () => {
      const ids = nodes.map((e) => e.id).sort(() => rand(3) - 1);
      return ids.slice(0, 1 + rand(Math.min(4, ids.length)));
    });
    const plain = handInput(nodes, owners);
    const readers = new Map(owners.map((o, s) => [s, 1 + rand(o.length)] as const).filter(([, k]) => k > 1));
    const input: TranslatorInput = { ...plain, shardMap: { ...plain.shardMap, readers } };
    const clients = [...places(nodes), ...zones.flatMap((z) => fabrics.map((f) => grpc(z, f)))];
    for (const c of clients) {
      const served = effectiveProxyClass(c, input);
      if (served.zone !== c.zone || served.subzone !== c.subzone) merged++;
      assert.deepEqual(bytes(input, c), bytes(input, served), `round ${round}: ${proxyClassKey(c)} served as ${proxyClassKey(served)}`);
    }
  }
  assert.ok(merged > 100, `${merged} places served another place's class`);
});

test('R = 2 and one hot shard moved to a node outside its owners: only the places nearer its replica than its former primary split', () => {
  // Bounded load puts the new primary first and keeps the former owners after it (docs/hot-shards.md):
  // one shard with three owners, two of them to order. Before, every place of the fleet got a class
  // of its own again (20 here; 85 in a fleet of 40 fabrics at S = 16384: 30 s a change, 3.4 GB).
  const nodes = fleet(40, 4, 8);
  const plain = computedInput(nodes, { shardCount: 256, replicas: 2, spread: 'zone' });
  const [p, r] = plain.shardMap.owners[0]!;
  const byId = new Map(nodes.map((e) => [e.id, e]));
  const to = nodes.find((e) => e.id !== p && e.id !== r)!.id;
  const owners = plain.shardMap.owners.map((o, s) => (s === 0 ? [to, p!, r!] : o));
  const input: TranslatorInput = { ...plain, shardMap: { ...plain.shardMap, owners } };
  const clients = places(nodes);
  const served = servedFleet(input, clients);
  const rl = byId.get(r!)!.locality;
  const pl = byId.get(p!)!.locality;
  assert.notEqual(rl.zone, pl.zone, 'spread over zones');
  // The replica's zone, alone and with each of its fabrics (all put the replica first), and the
  // replica's fabric alone; every other place keeps rank order and shares one class.
  const inZone = nodes.filter((e) => e.locality.zone === rl.zone).map((e) => `grpc|${rl.zone}|${e.locality.subzone}`);
  const split = new Set([`grpc|${rl.zone}|`, ...inZone, `grpc||${rl.subzone}`]);
  assert.deepEqual([...new Set(clients.map((c) => proxyClassKey(effectiveProxyClass(c, input))).filter((k) => k !== 'grpc||'))].sort(), [...split].sort());
  assert.equal(served.classes, split.size + 1, `${served.classes} classes`);
  assert.ok(served.classes <= 5);
  for (const c of clients) assert.deepEqual(bytes(input, c), bytes(input, effectiveProxyClass(c, input)), proxyClassKey(c));
});
