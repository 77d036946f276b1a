// The catch-up step between two replays of the hot-shard policy (docs/hot-shards.md "Churn
// budget"): at most the budget of differing shards taken from the new state, each the one that
// leaves the busiest node least loaded.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_HOT_SHARD_SETTINGS, type LoadSnapshot } from '../../src/core/load.js';
import { computeShardMap } from '../../src/sharding/index.js';
import { catchUpStep, sameShardState, type CatchUpModel } from '../../src/sharding/hot-shard-catch-up.js';
import { HotShardFold, LoadModel, type ShardState } from '../../src/sharding/hot-shard-fold.js';
import { cacheNodes } from './hot-shards-fixtures.js';

interface S {
  readonly owners: readonly string[];
  readonly readers: number;
  readonly explanation: string;
}
const st = (owners: string[], readers = 1, explanation = ''): S => ({ owners, readers, explanation });

/** Each shard's load on its primary (plain: `home`), on top of a base load per node; equal weights. */
class PrimaryLoads implements CatchUpModel<S> {
  readonly taken: number[] = [];
  constructor(
    readonly base: Record<string, number>,
    readonly loads: ReadonlyMap<number, number>,
    readonly home: ReadonlyMap<number, string>,
    readonly state: Map<number, S>,
  ) {}
  #max(state: ReadonlyMap<number, S>): number {
    const node = { ...this.base };
    for (const [shard, r] of this.loads) {
      const p = state.get(shard)?.owners[0] ?? this.home.get(shard)!;
      node[p] = (node[p] ?? 0) + r;
    }
    return Math.max(...Object.values(node));
  }
  maxRatioWith(shard: number, next: S | undefined): number {
    const s = new Map(this.state);
    if (next) s.set(shard, next);
    else s.delete(shard);
    return this.#max(s);
  }
  take(shard: number, next: S | undefined): void {
    this.taken.push(shard);
    if (next) this.state.set(shard, next);
    else this.state.delete(shard);
  }
  load(shard: number): number {
    return this.loads.get(shard) ?? 0;
  }
}

test('a catch-up step within the budget takes every differing shard, and a shard both agree on carries the newer entry', () => {
  const from = new Map([[1, st(['b', 'a'])], [2, st(['a', 'b'], 2, 'older')]]);
  const to = new Map([[2, st(['a', 'b'], 2, 'newer')], [3, st(['c', 'a'])]]);
  const model = new PrimaryLoads({}, new Map(), new Map(), new Map(from));
  const step = catchUpStep(from, to, 2, model);
  assert.deepEqual([step.moves, step.remaining], [2, 0]);
  assert.deepEqual([...step.state.keys()].sort(), [2, 3]);
  assert.equal(step.state.get(2)!.explanation, 'newer');
});

test('over the budget, the move that leaves the busiest node least loaded comes first, even before a hotter shard', () => {
  // Both shards live on node a. The old state moved shard 1 to b; the new one gave it back and
  // moved shard 2 to c instead. Taking shard 1 back first would put a at 111; shard 2 first keeps
  // the busiest node at 106 (b, still holding shard 1).
  const loads = new Map([[1, 11], [2, 10]]);
  const home = new Map([[1, 'a'], [2, 'a']]);
  const from = new Map([[1, st(['b', 'a'])]]);
  const to = new Map([[2, st(['c', 'a'])]]);
  const model = new PrimaryLoads({ a: 90, b: 95, c: 90 }, loads, home, new Map(from));
  const first = catchUpStep(from, to, 1, model);
  assert.deepEqual(model.taken, [2]);
  assert.deepEqual([first.moves, first.remaining], [1, 1]);
  assert.deepEqual(first.state.get(1)!.owners, ['b', 'a'], 'shard 1 waits on b');
  assert.deepEqual(first.state.get(2)!.owners, ['c', 'a']);
  const second = catchUpStep(first.state, to, 1, new PrimaryLoads({ a: 90, b: 95, c: 90 }, loads, home, new Map(first.state)));
  assert.deepEqual([second.moves, second.remaining], [1, 0]);
  assert.deepEqual([...second.state.keys()], [2]);
});

test('among moves that leave the same busiest node, the hotter shard comes first, then the lower shard', () => {
  const loads = new Map([[5, 1], [6, 3], [7, 3]]);
  const home = new Map([[5, 'x'], [6, 'x'], [7, 'x']]);
  const to = new Map([[5, st(['y', 'x'])], [6, st(['y', 'x'])], [7, st(['y', 'x'])]]);
  // A base load on z dominates whatever moves: every choice leaves the same busiest node.
  const model = new PrimaryLoads({ z: 1000 }, loads, home, new Map());
  catchUpStep(new Map<number, S>(), to, 2, model);
  assert.deepEqual(model.taken, [6, 7]);
});

test('a budget of 0 changes nothing, and owners in another order are a different state', () => {
  const from = new Map([[7, st(['a', 'b'])]]);
  const to = new Map([[7, st(['b', 'a'])]]);
  assert.equal(sameShardState(from.get(7), to.get(7)), false);
  const step = catchUpStep(from, to, 0, new PrimaryLoads({}, new Map(), new Map([[7, 'a']]), new Map(from)));
  assert.deepEqual([step.moves, step.remaining], [0, 1]);
  assert.deepEqual(step.state.get(7)!.owners, ['a', 'b']);
});

test('the fold\'s catch-up model asks a few nodes per candidate move, not every node: an anchor move in a big fleet does not stall', () => {
  // 2000 nodes; the new replay moved 200 shards the old one did not, the budget takes 8 a window.
  // Each of the 8 picks weighs all 200 candidates; copying and scanning every node's load for each
  // was 3.2 million ratio reads (seconds on the main thread where a few hundred shards differ).
  const n = 2000;
  const map = computeShardMap(cacheNodes(n), { shardCount: 1024, replicas: 2, spread: 'none' });
  const fold = new HotShardFold(map, DEFAULT_HOT_SHARD_SETTINGS);
  const shards = Array.from({ length: 200 }, (_, i) => i * 5);
  const to = new Map<number, ShardState>(
    shards.map((shard, i) => {
      const target = map.endpoints[(i * 7) % n]!.id;
      return [shard, { owners: [target, ...map.owners[shard]!.filter((id) => id !== target)], readers: 1, reason: 'bounded-load', explanation: '' }];
    }),
  );
  const snapshot: LoadSnapshot = { windowStartMs: 0, windowMs: 10_000, shards: shards.map((shard, i) => ({ shard, requests: 1 + (i % 13) })), nodes: [{ nodeId: 'all', requests: 50_000 }] };
  const model = fold.catchUpModel(snapshot);
  // The same figures as the whole model with the move made (the fold starts at plain rendezvous).
  const busiest = (shard: number, next: ShardState | undefined): number => {
    const moved = new HotShardFold(map, DEFAULT_HOT_SHARD_SETTINGS);
    if (next) moved.state.set(shard, next);
    return moved.model(snapshot).maxRatio();
  };
  for (const shard of shards.slice(0, 5)) assert.equal(model.maxRatioWith(shard, to.get(shard)), busiest(shard, to.get(shard)));
  const ratio = LoadModel.prototype.ratio;
  let reads = 0;
  LoadModel.prototype.ratio = function (this: LoadModel, id: string): number {
    reads++;
    return ratio.call(this, id);
  };
  try {
    const step = catchUpStep(new Map<number, ShardState>(), to, 8, fold.catchUpModel(snapshot));
    assert.deepEqual([step.moves, step.remaining], [8, 192]);
  } finally {
    LoadModel.prototype.ratio = ratio;
  }
  assert.ok(reads <= 100 * n, `${reads} ratio reads for one window of the catch-up`);
});
