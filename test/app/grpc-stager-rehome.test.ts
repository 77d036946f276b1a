/**
 * Make-before-break for a gRPC client whose proxy class changes with the topology (docs/xds.md
 * "Make-before-break for stock gRPC clients"): classes are bounded by the places the topology
 * knows (served-class.ts), so when the first node of a client's zone joins, the client moves from
 * the class of clients that say nothing to a class of its own, in the same push as the join. That
 * class is new to the stager, and the client still holds the routes of its former class: its first
 * routes must name only clusters it held already, as for the clients that stay in their class.
 * Wired as the xDS stage wires it (translator, stager, snapshot cache with the bounded classes).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { pino } from 'pino';
import type { Endpoint } from '../../src/core/endpoint.js';
import { computeShardMap } from '../../src/sharding/index.js';
import { GrpcStager } from '../../src/app/grpc-stager.js';
import { stagedSet } from '../../src/app/xds-stage.js';
import { SnapshotCache, type Snapshot } from '../../src/xds/cache/index.js';
import { proxyClassKey, type ProxyClass, type ResourceSet } from '../../src/xds/resources.js';
import type { RouteConfiguration } from '../../src/xds/proto.js';
import { checkConsistency, effectiveProxyClass, translate, type TranslatorInput } from '../../src/xds/translator/index.js';
import { STAGING_HEADER } from '../../src/app/grpc-staged-sets.js';
import { endpoint, locality, topologyOf } from '../xds/translator/fixtures.js';
import { eventually } from '../support/eventually.js';

const policy = { shardCount: 64, replicas: 3, spread: 'none' } as const;

function inputOf(endpoints: readonly Endpoint[]): TranslatorInput {
  return { shardMap: computeShardMap(endpoints, policy), topology: topologyOf(endpoints, policy) };
}

/** The clusters the real routes (not the staging routes) of route configurations send calls to. */
function routedBy(configs: Iterable<RouteConfiguration>): Set<string> {
  const out = new Set<string>();
  for (const config of configs) {
    for (const vh of config.virtualHosts) {
      for (const route of vh.routes) {
        if (route.match?.headers.some((h) => h.name === STAGING_HEADER)) continue;
        if (route.action.case === 'route' && route.action.value.clusterSpecifier.case === 'cluster') out.add(route.action.value.clusterSpecifier.value);
      }
    }
  }
  return out;
}

/** The clusters the real routes of a snapshot send calls to. */
const routed = (s: Snapshot): Set<string> => routedBy([...s.kinds.route.resources.values()].map((r) => r.message as RouteConfiguration));

const held = (s: Snapshot): Set<string> => new Set(s.kinds.cluster.resources.keys());

/** A cache served like the xDS stage serves it: bounded classes, the stager on stock gRPC classes. */
function stage(first: TranslatorInput, lingerMs = 0) {
  let current = first;
  const synced = new Set<string>();
  const push = (): void => {
    const report = cache.rebuild();
    stager.rebuilt(new Set(report.classes.map((c) => c.classKey)));
  };
  const stager: GrpcStager = new GrpcStager({ timeoutMs: 60_000, lingerMs, logger: pino({ level: 'silent' }), synced: (k) => synced.has(k), rebuild: push });
  // One translation per class and input, as the xDS stage does: the stager tells a new change
  // from a phase by the identity of the translator's set.
  let translated = { input: current, sets: new Map<string, ResourceSet>() };
  const translateOnce = (c: ProxyClass): ResourceSet => {
    if (translated.input !== current) translated = { input: current, sets: new Map() };
    const key = proxyClassKey(c);
    let set = translated.sets.get(key);
    if (!set) translated.sets.set(key, (set = translate(current, c)));
    return set;
  };
  const cache = new SnapshotCache({
    build: (c) => stagedSet(stager, c, translateOnce(c)),
    checkConsistency,
    servedClass: (c) => effectiveProxyClass(c, current),
  });
  return {
    stager,
    cache,
    push(next: TranslatorInput) {
      current = next;
      push();
    },
    /** The clients of `classKey` hold and ACKed its snapshot. */
    synced(classKey: string) {
      synced.add(classKey);
      stager.check();
    },
  };
}

/** The last snapshot each watched kind of `proxy` was told of. */
function client(cache: SnapshotCache, proxy: ProxyClass): { route: () => Snapshot } {
  let last = cache.snapshot(proxy)!;
  cache.watch(proxy, 'cluster', () => {});
  cache.watch(proxy, 'route', (s) => void (last = s));
  return { route: () => last };
}

const nodes = (zones: readonly string[]): Endpoint[] => zones.map((z, i) => endpoint(`n${i}`, `10.0.0.${i + 1}`, { locality: locality(z, `nvl-${i}`) }));

test('a client moved to a new class by a node joining its zone gets no route to a cluster it has not held', async () => {
  const { cache, push, stager, synced } = stage(inputOf(nodes(['za', 'za', 'zb', 'zb'])));
  // zc is unknown to the topology: both clients share the class of clients that say nothing.
  const stays = client(cache, { flavor: 'grpc', zone: '', subzone: '' });
  const moves = client(cache, { flavor: 'grpc', zone: 'zc', subzone: '' });
  assert.equal(stays.route(), moves.route(), 'one class before the join');
  const heldBefore = held(moves.route());
  const noNewRoutes = (who: string, c: { route: () => Snapshot }): void => {
    const unknown = [...routed(c.route())].filter((n) => !heldBefore.has(n));
    assert.deepEqual(unknown, [], `${who}: routes name clusters it has not held yet`);
  };

  push(inputOf(nodes(['za', 'za', 'zb', 'zb', 'zc']))); // the first node of zc: new owner tuples
  assert.ok([...held(stays.route())].some((n) => !heldBefore.has(n)), 'the join creates clusters');
  noNewRoutes('the client that stays', stays);
  noNewRoutes('the client that moves', moves);
  assert.ok(held(moves.route()).size > heldBefore.size, 'the client that moves is sent the new clusters');

  // The class left behind is in sync and moves on; the moved class waits for its own clients.
  synced('grpc||');
  await sleep(20);
  assert.deepEqual(stager.inProgress().filter((c) => c.classKey === 'grpc|zc|'), [{ classKey: 'grpc|zc|', phase: 'add' }]);
  noNewRoutes('the client that moves, its class not in sync yet', moves);
  // Its clients ACK each phase (add, then switch) as the xDS stage's ACKs would make the stager check.
  await eventually('the moved class done', () => {
    synced('grpc|zc|');
    return stager.inProgress().length === 0 ? true : undefined;
  });
  assert.ok([...routed(moves.route())].some((n) => !heldBefore.has(n)), 'in sync, the client that moves gets the new routes');
  stager.close();
});

test('a client moved to a new class by the last node of its zone leaving keeps the clusters its routes name', () => {
  const { cache, push, stager } = stage(inputOf(nodes(['za', 'za', 'zb', 'zb', 'zc'])));
  // Only clients of zc: the class without a place has none until zc leaves the topology.
  const moves = client(cache, { flavor: 'grpc', zone: 'zc', subzone: '' });
  const before = moves.route();
  push(inputOf(nodes(['za', 'za', 'zb', 'zb']))); // zc's node leaves: its shards move to other owners
  assert.equal(cache.servedClass({ flavor: 'grpc', zone: 'zc', subzone: '' }).zone, '', 'the client moved');
  const after = moves.route();
  const unknown = [...routed(after)].filter((n) => !held(before).has(n));
  assert.deepEqual(unknown, [], 'routes name clusters it has not held yet');
  // It may still route with the routes it holds until it ACKed the new ones: their clusters stay.
  const gone = [...routed(before)].filter((n) => !held(after).has(n));
  assert.deepEqual(gone, [], 'clusters its routes name are gone before it ACKed routes without them');
  assert.ok(stager.inProgress().some((c) => c.classKey === 'grpc||'), 'the class it moved to stages the change');
  stager.close();
});

test('clients whose zone gets a node, loses it and gets another end on the routes of the map in force, not a staged set', async (t) => {
  // Leaving clusters linger 200 ms: the second node of zc joins while the class of zc, emptied
  // when the first one left, still lingers in its last phase.
  const { cache, push, stager, synced } = stage(inputOf(nodes(['za', 'za', 'zb', 'zb'])), 200);
  t.after(() => stager.close());
  // Every client is of zc, and every class is in sync as soon as it is asked (clients that ACK at once).
  for (const k of ['grpc||', 'grpc|zc|']) synced(k);
  const zc = client(cache, { flavor: 'grpc', zone: 'zc', subzone: '' });
  const steps = [
    { zones: ['za', 'za', 'zb', 'zb', 'zc'], waitMs: 500 },
    { zones: ['za', 'za', 'zb', 'zb'], waitMs: 50 },
    { zones: ['za', 'za', 'zb', 'zb', 'zc', 'zc'], waitMs: 500 },
  ];
  for (const { zones, waitMs } of steps) {
    const input = inputOf(nodes(zones));
    push(input);
    await sleep(waitMs); // the phases move on as the classes are in sync
    if (waitMs < 500) continue;
    // Every change completes (on a loaded machine its phases may take longer than the wait).
    await eventually('every change completed', () => stager.inProgress().length === 0, { timeoutMs: 5000 });
    const want = translate(input, cache.servedClass({ flavor: 'grpc', zone: 'zc', subzone: '' }));
    const wanted = [...routedBy(want.route.map((r) => r.message as RouteConfiguration))].sort();
    assert.deepEqual([...routed(zc.route())].sort(), wanted, `after ${zones.join(' ')}: the routes of the map in force`);
  }
  assert.deepEqual(stager.inProgress(), []);
});
