// The snapshot cache's prebuild (docs/ownership.md "Cost"): a change's snapshots built ahead in
// slices that yield to the event loop, then served by one rebuild. What it serves must be what a
// rebuild alone serves (the same versions and bytes for every class, the same watcher calls), and
// nothing may be served while the slices run: an agent sees its assignments of the old map or of
// the new one, never a class of one beside a class of the other.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import type { Endpoint } from '../../../src/core/endpoint.js';
import type { HandoffState } from '../../../src/core/handoff.js';
import type { ShardMap } from '../../../src/core/shard-map.js';
import { SnapshotCache } from '../../../src/xds/cache/index.js';
import { KIND_ORDER, type ProxyClass } from '../../../src/xds/resources.js';
import { checkConsistency, effectiveProxyClass, translate, type TranslatorInput } from '../../../src/xds/translator/index.js';
import { Rng } from '../../support/seeded-random.js';
import { endpoint, topologyOf } from '../translator/fixtures.js';

const agent = (node: string): ProxyClass => ({ flavor: 'agent', zone: '', subzone: '', node });
const OTHERS: readonly ProxyClass[] = [
  { flavor: 'envoy', zone: '', subzone: '' },
  { flavor: 'grpc', zone: '', subzone: '', picker: true },
];

/** A seeded map of `nodes` nodes at S = `shards`, R = 2, with a few transitions and drains when `handoff`. */
function seededInput(rng: Rng, eps: readonly Endpoint[], shards: number, handoff: boolean): TranslatorInput {
  const ids = eps.map((e) => e.id);
  const owners = Array.from({ length: shards }, () => {
    const a = rng.int(ids.length);
    return [ids[a]!, ids[(a + 1 + rng.int(ids.length - 1)) % ids.length]!];
  });
  const shardMap: ShardMap = { version: `seeded-${rng.int(1 << 30)}`, policy: { shardCount: shards, replicas: 2, spread: 'none' }, endpoints: eps, owners, warnings: [] };
  const state: HandoffState | undefined = handoff
    ? {
        enabled: true,
        target: shardMap,
        transitions: Array.from({ length: 5 }, (_, i) => {
          const shard = i * 7;
          return { shard, from: owners[shard]!, to: [ids[rng.int(ids.length)]!], warming: ids[rng.int(ids.length)]!, startedAt: 1000, deadline: 31_000 + i };
        }),
        drains: Array.from({ length: 5 }, (_, i) => ({ shard: 3 + i * 11, node: ids[rng.int(ids.length)]!, until: 61_000 + i })),
        started: [],
        completed: [],
      }
    : undefined;
  return { shardMap, topology: topologyOf(eps, shardMap.policy), ...(handoff ? { handoff: state } : {}) };
}

/** A cache serving `current()`, watched by every node's agent (and one unknown node) and `OTHERS`; counts watcher calls per class. */
function servedCache(current: () => TranslatorInput, eps: readonly Endpoint[]) {
  const cache = new SnapshotCache({
    build: (c) => translate(current(), c),
    checkConsistency,
    servedClass: (c) => effectiveProxyClass(c, { shardMap: current().shardMap, handoff: current().handoff }),
  });
  const calls = new Map<string, number>();
  const classes = [...eps.map((e) => agent(e.id)), agent('not-a-node'), ...OTHERS];
  for (const c of classes) {
    for (const kind of KIND_ORDER) cache.watch(c, kind, (s) => calls.set(`${s.classKey}/${kind}`, (calls.get(`${s.classKey}/${kind}`) ?? 0) + 1));
  }
  return { cache, calls, classes };
}

/** Every class's snapshot version and each resource's name, version and bytes, hashed. */
function digest(cache: SnapshotCache): string {
  const hash = createHash('sha256');
  for (const c of cache.classes().sort((a, b) => (a.classKey < b.classKey ? -1 : 1))) {
    hash.update(`${c.classKey}\0${c.snapshot?.version}\n`);
    for (const kind of KIND_ORDER) for (const r of c.snapshot?.kinds[kind].resources.values() ?? []) hash.update(r.name).update(r.version).update(r.bytes);
  }
  return hash.digest('hex');
}

const turn = (): Promise<void> => new Promise((r) => setImmediate(r));

for (const seed of [1, 2, 3, 4]) {
  test(`seed ${seed}: prebuild in slices then rebuild serves what rebuild alone serves, and serves nothing while it slices`, async () => {
    const rng = new Rng(seed);
    const eps = Array.from({ length: 24 }, (_, i) => endpoint(`gpu-${String(i).padStart(2, '0')}`, `10.0.0.${i + 1}`));
    const inputs = Array.from({ length: 5 }, (_, k) => seededInput(rng, eps, 512, seed % 2 === 0 || k % 2 === 1));
    let plainInput = inputs[0]!;
    let slicedInput = inputs[0]!;
    const plain = servedCache(() => plainInput, eps);
    const sliced = servedCache(() => slicedInput, eps);
    assert.equal(digest(sliced.cache), digest(plain.cache));

    for (const next of inputs.slice(1)) {
      plainInput = next;
      const plainReport = plain.cache.rebuild();
      await plainReport.fanOut;

      const before = new Map(sliced.cache.classes().map((c) => [c.classKey, c.snapshot]));
      const ahead = sliced.cache.prebuild((c) => translate(next, c), { sliceMs: 0 });
      assert.ok(ahead, 'with 0 ms slices, 27 classes take more than one slice');
      let turns = 0;
      let done = false;
      void ahead.then(() => (done = true));
      while (!done && turns < 1000) {
        await turn();
        turns++;
        // Nothing served while the slices run: every class keeps the very snapshot it had.
        for (const c of sliced.cache.classes()) assert.equal(c.snapshot, before.get(c.classKey), `${c.classKey} served part of a change during the prebuild`);
      }
      assert.ok(done && turns > 1, `the prebuild yielded to the event loop (${turns} turns)`);
      slicedInput = next;
      const report = sliced.cache.rebuild();
      await report.fanOut;
      assert.deepEqual(report.classes, plainReport.classes, 'the same classes changed, the same kinds');
      assert.equal(digest(sliced.cache), digest(plain.cache), 'the same versions and bytes for every class');

    }
    assert.deepEqual([...sliced.calls].sort(), [...plain.calls].sort(), 'every watcher told as often');
    // The retired snapshots' encodings are let go after the rebuild, in slices: then the memo
    // holds what the plain cache's does (else each change that moves every shard would leave its
    // old assignments' encodings behind).
    for (let i = 0; i < 1000 && sliced.cache.encodingsHeld !== plain.cache.encodingsHeld; i++) await turn();
    assert.equal(sliced.cache.encodingsHeld, plain.cache.encodingsHeld);
  });
}

test('a rebuild while a prebuild slices (a make-before-break phase, on the input in force) keeps what the prebuild built', async () => {
  const rng = new Rng(9);
  const eps = Array.from({ length: 16 }, (_, i) => endpoint(`gpu-${String(i).padStart(2, '0')}`, `10.0.1.${i + 1}`));
  const [first, next] = [seededInput(rng, eps, 256, false), seededInput(rng, eps, 256, true)];
  let input = first!;
  const { cache } = servedCache(() => input, eps);
  let prebuilt = 0;
  const ahead = cache.prebuild(
    (c) => {
      prebuilt++;
      return translate(next!, c);
    },
    { sliceMs: 0 },
  );
  assert.ok(ahead);
  await turn();
  const unchanged = cache.rebuild();
  assert.ok(unchanged.classes.every((c) => c.changed.length === 0), 'the rebuild on the input in force changed nothing');
  await ahead;
  const builtAhead = cache.packedCount;
  input = next!;
  const report = cache.rebuild();
  assert.ok(report.classes.some((c) => c.changed.length > 0));
  assert.equal(cache.packedCount, builtAhead, 'the rebuild encoded nothing: every class was built ahead');
  assert.equal(prebuilt, cache.classes().length);
});
