// One step of the hot-shard policy (src/sharding/hot-shard-fold.ts): the rendezvous order a step
// reads is ranked only as far as asked, and that prefix must be exactly the full ranking's
// (hash contract 2: score descending, ties by id; the map's owners first).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compareStrings } from '../../src/core/order.js';
import { DEFAULT_HOT_SHARD_SETTINGS, type LoadSnapshot } from '../../src/core/load.js';
import { computeShardMap, decideHotShards, rendezvousScore } from '../../src/sharding/index.js';
import { HotShardFold } from '../../src/sharding/hot-shard-fold.js';
import { cacheNodes } from './hot-shards-fixtures.js';

test('rendezvousOrder(shard, count) is the first count of the full ranking, however it grows', () => {
  const nodes = cacheNodes(300, [1, 2, 3, 5, 8]);
  // Not ready and weight 0 endpoints serve nothing: never in the order.
  const endpoints = nodes.map((e, i) => (i % 50 === 7 ? { ...e, ready: false } : i % 50 === 9 ? { ...e, weight: 0 } : e));
  const map = computeShardMap(endpoints, { shardCount: 4096, replicas: 3, spread: 'none' });
  const serving = endpoints.filter((e) => e.ready && e.weight > 0);
  const fold = new HotShardFold(map, { ...DEFAULT_HOT_SHARD_SETTINGS, enabled: true });
  for (const shard of [0, 1, 17, 1000, 4095]) {
    const base = map.owners[shard]!;
    const rest = serving
      .filter((e) => !base.includes(e.id))
      .map((e) => ({ id: e.id, score: rendezvousScore(e.id, shard, e.weight) }))
      .sort((a, b) => b.score - a.score || compareStrings(a.id, b.id))
      .map((x) => x.id);
    const full = [...base, ...rest];
    assert.equal(full.length, serving.length);
    // Asked for more and more of it, then for less: always the same prefix, never past the end.
    for (const count of [1, 3, 7, 40, 299, 500, 2]) {
      const got = fold.rendezvousOrder(shard, count);
      assert.ok(got.length >= Math.min(count, full.length), `shard ${shard}, count ${count}: only ${got.length}`);
      assert.deepEqual(got, full.slice(0, got.length), `shard ${shard}, count ${count}`);
    }
  }
});

test('a shard shed back to its rendezvous primary is plain rendezvous again, not a changed shard kept on its home', () => {
  // R = 1, 4 equal nodes, no spreading: only bounded-load moves.
  const map = computeShardMap(cacheNodes(4), { shardCount: 64, replicas: 1, spread: 'none' });
  const settings = { ...DEFAULT_HOT_SHARD_SETTINGS, maxReaders: 1, replayWindows: 0, minWindowRequests: 0 };
  const fold = new HotShardFold(map, settings);
  const primary = (s: number): string => map.owners[s]![0]!;
  const on = (id: string): number[] => map.owners.flatMap((o, s) => (o[0] === id ? [s] : []));
  // Shard x's home a, and c, the next node in its rendezvous order (where a sheds it to).
  const x = 0;
  const a = primary(x);
  const c = fold.rendezvousOrder(x, 2)[1]!;
  const [b, d] = map.endpoints.map((e) => e.id).filter((id) => id !== a && id !== c);
  const snapshot = (loads: readonly (readonly [number, number])[]): LoadSnapshot => ({
    windowStartMs: 1_700_000_000_000,
    windowMs: 10_000,
    shards: [...loads].sort((p, q) => p[0] - q[0]).map(([shard, requests]) => ({ shard, requests })),
    nodes: [],
  });
  const [a1, a2] = on(a).filter((s) => s !== x);
  const cs = on(c).slice(0, 5);
  const [b1] = on(b!);
  const [d1] = on(d!);
  assert.ok(a1 !== undefined && a2 !== undefined && cs.length === 5 && b1 !== undefined && d1 !== undefined, 'the map gives every node enough shards');
  // Window 1: a at 30 of a 25 share (1.2x, sheds above 1.15x) sheds x (12) to c (15 + 12 = 27, within 1.1x).
  fold.step(snapshot([[x, 12], [a1, 9], [a2, 9], [cs[0]!, 15], [b1, 27.5], [d1, 27.5]].map(([s, r]) => [s!, r!] as const)));
  assert.equal(fold.owners(x)[0], c, 'x moved to c');
  // Window 2: c's own load grows (5 shards of 5) so c sheds x, which goes back to a (18 + 12 = 30, within 1.1 x 27.5).
  fold.step(snapshot([[x, 12], [a1, 9], [a2, 9], ...cs.map((s) => [s, 5]), [b1, 27.5], [d1, 27.5]].map(([s, r]) => [s!, r!] as const)));
  assert.equal(fold.owners(x)[0], a, 'x is back on its rendezvous primary');
  assert.deepEqual(fold.owners(x), map.owners[x], 'with its plain owners (c, which R = 1 does not give it, dropped)');
  assert.equal(fold.state.has(x), false, 'and no longer a changed shard');
});

test('a moved shard that was spread and cools to one reader explains its moved primary, not a spread it no longer has', () => {
  // 4 equal nodes, R = 2. Window 1: shard 15 is shed off its home; window 2: it alone is hot and
  // spread to 4 readers from its new primary; window 3: no load, it cools to one reader and
  // keeps the moved primary (the next step may give it back).
  const map = computeShardMap(cacheNodes(4), { shardCount: 16, replicas: 2, spread: 'none' });
  const settings = { ...DEFAULT_HOT_SHARD_SETTINGS, windowMs: 1000, minWindowRequests: 0, replayWindows: 30, historyWindows: 1 };
  const at = (i: number, shards: { shard: number; requests: number }[]): LoadSnapshot => ({ windowStartMs: 1_800_000_000_000 + i * 1000, windowMs: 1000, shards, nodes: [] });
  const windows = [at(0, [{ shard: 0, requests: 7 }, { shard: 1, requests: 2 }, { shard: 15, requests: 1 }]), at(1, [{ shard: 15, requests: 1 }]), at(2, [])];
  const h = decideHotShards(map, windows, settings).shards.find((x) => x.shard === 15);
  assert.ok(h !== undefined && h.readers === 1 && h.owners[0] !== map.owners[15]![0], `shard 15 is on a moved primary alone: ${JSON.stringify(h)}`);
  assert.equal(h.reason, 'bounded-load');
  assert.match(h.explanation, new RegExp(`cooled to 1 reader, its primary still moved to ${h.owners[0]}`), h.explanation);
});
