// Nodes joining the map (docs/ownership.md "Cost"): their agents, connected before their node was
// in the map, share one class until the change and each get their own class at the rebuild that
// serves it. Those classes must be built ahead in the slices like every other class, not in the
// serving turn: 1000 nodes joining a map at S = 65536 made a 0.7 s turn of the event loop when
// they were built there (against some 0.07 s for a change among classes that already exist).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import { ServingState } from '../../../src/app/serving-state.js';
import { startXdsStage } from '../../../src/app/xds-stage.js';
import type { Endpoint } from '../../../src/core/endpoint.js';
import type { ShardMap } from '../../../src/core/shard-map.js';
import { buildSnapshot, ResourceEncoder, SnapshotCache } from '../../../src/xds/cache/index.js';
import type { ProxyClass } from '../../../src/xds/resources.js';
import { checkConsistency, effectiveProxyClass, translate, type TranslatorInput } from '../../../src/xds/translator/index.js';
import { endpoint, topologyOf } from '../translator/fixtures.js';

const agent = (node: string): ProxyClass => ({ flavor: 'agent', zone: '', subzone: '', node });
const turn = (): Promise<void> => new Promise((r) => setImmediate(r));
const eps = Array.from({ length: 32 }, (_, i) => endpoint(`gpu-${String(i).padStart(2, '0')}`, `10.0.3.${i + 1}`));
const SHARDS = 1024;

/** The first `n` nodes own every shard, (7s + 13r + shift) mod n. */
function inputOf(n: number, shift: number): TranslatorInput {
  const nodes: Endpoint[] = eps.slice(0, n);
  const policy = { shardCount: SHARDS, replicas: 2, spread: 'none' as const };
  const owners = Array.from({ length: SHARDS }, (_, s) => [0, 1].map((r) => nodes[(s * 7 + r * 13 + shift) % n]!.id));
  const shardMap: ShardMap = { version: `n${n}-s${shift}`, policy, endpoints: nodes, owners, warnings: [] };
  return { shardMap, topology: topologyOf(nodes, policy) };
}

/** checkConsistency, counting its calls: the cache checks every snapshot it builds, once. */
function countingCheck(): { check: typeof checkConsistency; calls: () => number } {
  let n = 0;
  return {
    check: (set) => {
      n++;
      return checkConsistency(set);
    },
    calls: () => n,
  };
}

const expected = (input: TranslatorInput, c: ProxyClass): string => buildSnapshot(c, translate(input, c), new ResourceEncoder(), checkConsistency).version;

test('prebuild builds ahead the classes the coming input moves watchers to: the rebuild builds none and serves what a rebuild alone serves', async () => {
  const before = inputOf(8, 0);
  const after = inputOf(32, 1);
  let input = before;
  // One input object per view, as the xDS stage does (the served-class rule memoizes on it).
  const classInput = (i: TranslatorInput) => ({ shardMap: i.shardMap });
  let served = classInput(before);
  const counted = countingCheck();
  const cache = new SnapshotCache({ build: (c) => translate(input, c), checkConsistency: counted.check, servedClass: (c) => effectiveProxyClass(c, served) });
  for (const e of eps) cache.watch(agent(e.id), 'assignment', () => {});
  assert.equal(cache.classes().length, 9, 'the premise: the 24 nodes not in the map share one class');

  const coming = classInput(after);
  const ahead = cache.prebuild((c) => translate(after, c), { sliceMs: 0, servedClass: (c) => effectiveProxyClass(c, coming) });
  assert.ok(ahead);
  await ahead;
  const builtAhead = counted.calls();
  input = after;
  served = coming;
  const report = cache.rebuild();
  await report.fanOut;
  assert.equal(cache.classes().length, 32, 'every node has its own class now');
  assert.equal(counted.calls() - builtAhead, 0, 'snapshots built in the serving turn (the joining nodes\' classes)');
  for (const e of eps) assert.equal(cache.snapshot(agent(e.id))!.version, expected(after, agent(e.id)), e.id);

  // What the prebuild held for them is the served snapshots' (nothing held twice, nothing leaked).
  const plain = new SnapshotCache({ build: (c) => translate(after, c), checkConsistency, servedClass: (c) => effectiveProxyClass(c, coming) });
  for (const e of eps) plain.watch(agent(e.id), 'assignment', () => {});
  for (let i = 0; i < 100 && cache.encodingsHeld !== plain.encodingsHeld; i++) await turn();
  assert.equal(cache.encodingsHeld, plain.encodingsHeld);
});

test('a joining class built ahead but not served (its agent left before the rebuild) is let go', async () => {
  const after = inputOf(32, 1);
  let input = inputOf(8, 0);
  let served = { shardMap: input.shardMap };
  const cache = new SnapshotCache({ build: (c) => translate(input, c), checkConsistency, servedClass: (c) => effectiveProxyClass(c, served) });
  const stops = eps.map((e) => cache.watch(agent(e.id), 'assignment', () => {}));
  const coming = { shardMap: after.shardMap };
  await cache.prebuild((c) => translate(after, c), { sliceMs: 0, servedClass: (c) => effectiveProxyClass(c, coming) });
  for (const stop of stops.slice(8)) stop(); // the agents of the joining nodes leave
  input = after;
  served = coming;
  cache.rebuild();
  assert.equal(cache.classes().length, 8);
  const plain = new SnapshotCache({ build: (c) => translate(after, c), checkConsistency, servedClass: (c) => effectiveProxyClass(c, coming) });
  for (const e of eps.slice(0, 8)) plain.watch(agent(e.id), 'assignment', () => {});
  for (let i = 0; i < 100 && cache.encodingsHeld !== plain.encodingsHeld; i++) await turn();
  assert.equal(cache.encodingsHeld, plain.encodingsHeld, 'the unserved joining snapshots were released');
});

test('the xDS stage builds the agents of joining nodes ahead: the turn that serves the change builds none', async () => {
  const state = new ServingState();
  const publish = (i: TranslatorInput) => state.publish({ map: i.shardMap, topology: i.topology });
  publish(inputOf(16, 0));
  const counted = countingCheck();
  const stage = await startXdsStage({ state, logger: pino({ level: 'silent' }), xdsPort: 0, host: '127.0.0.1' }, { rebuildSliceMs: 0, checkConsistency: counted.check });
  try {
    for (const e of eps) stage.cache.watch(agent(e.id), 'assignment', () => {});
    const rebuild = stage.cache.rebuild.bind(stage.cache);
    const builtBySwap: number[] = [];
    stage.cache.rebuild = (build) => {
      const checked = counted.calls();
      const report = rebuild(build);
      builtBySwap.push(counted.calls() - checked);
      return report;
    };
    const after = inputOf(32, 1);
    publish(after);
    for (let i = 0; i < 10_000 && builtBySwap.length === 0; i++) await turn();
    assert.deepEqual(builtBySwap, [0], 'snapshots built in the turn that served the change');
    for (const e of eps) assert.equal(stage.cache.snapshot(agent(e.id))!.version, expected(after, agent(e.id)), e.id);
  } finally {
    await stage.close();
  }
});
