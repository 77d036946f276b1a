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

test('a moved shard that was spread and cools keeps its plain replica, as the move itself did', () => {
  // 4 equal nodes, R = 2, shard x with plain owners [a, c]. Window 0: a sheds x to b (c is too
  // busy to take it), owners [b, a, c]; window 1: x alone is hot, spread to 4 readers [b, a, c, d];
  // then it cools, to 2 readers and to 1. Cut to its plain length, c's replica was dropped, and
  // c had to warm x again once it went back.
  const map = computeShardMap(cacheNodes(4), { shardCount: 64, replicas: 2, spread: 'none' });
  const settings = { ...DEFAULT_HOT_SHARD_SETTINGS, windowMs: 1000, minWindowRequests: 0, replayWindows: 30, historyWindows: 1 };
  const at = (i: number, shards: [number, number][]): LoadSnapshot => ({
    windowStartMs: 1_800_000_000_000 + i * 1000,
    windowMs: 1000,
    shards: shards.sort((p, q) => p[0] - q[0]).map(([shard, requests]) => ({ shard, requests })),
    nodes: [],
  });
  const led = (id: string): number[] => map.owners.flatMap((o, s) => (o[0] === id ? [s] : []));
  const x = 0;
  const [a, c] = map.owners[x]! as [string, string];
  const [b, d] = map.endpoints.map((e) => e.id).filter((id) => id !== a && id !== c) as [string, string];
  const [a1, a2] = led(a).filter((s) => s !== x);
  const cs = led(c).slice(0, 3);
  const bs = led(b).slice(0, 3);
  const ds = led(d).slice(0, 3);
  assert.ok(a1 !== undefined && a2 !== undefined && cs.length === 3 && bs.length === 3 && ds.length === 3, 'the map gives every node enough shards');
  // a at 14.5 of a 10 share sheds x (4.9): c (11 + 4.9) is over the bound, b (4 + 4.9) is not.
  const moved = at(0, [[x, 4.9], [a1, 4.8], [a2, 4.8], ...cs.map((s): [number, number] => [s, 11 / 3]), [bs[0]!, 4], ...ds.map((s): [number, number] => [s, 3.5])]);
  const hot = at(1, [[x, 1]]);
  // x at a tenth of the load, the rest even (each node 2.5 of a 2.5 share with x on two readers): 2 readers.
  const cooler = at(2, [[x, 1], ...[a, b].flatMap((id) => led(id).filter((s) => s !== x).slice(0, 2).map((s): [number, number] => [s, 1])), ...[c, d].flatMap((id) => led(id).slice(0, 3).map((s): [number, number] => [s, 2.5 / 3]))]);
  const shard = (windows: LoadSnapshot[]) => decideHotShards(map, windows, settings).shards.find((h) => h.shard === x);
  assert.deepEqual(shard([moved])?.owners, [b, a, c], 'moved to b, its former owners after it');
  assert.deepEqual([shard([moved, hot])?.owners, shard([moved, hot])?.readers], [[b, a, c, d], 4], 'spread from b');
  const one = shard([moved, hot, at(2, [])]);
  assert.deepEqual([one?.owners, one?.readers, one?.reason], [[b, a, c], 1, 'bounded-load'], 'cooled to one reader: the owners of the move again');
  const two = shard([moved, hot, cooler]);
  assert.deepEqual([two?.owners, two?.readers], [[b, a, c], 2], 'cooled to two readers: c stays a replica after them');
});
