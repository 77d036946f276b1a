/**
 * The catch-up between two replays of the hot-shard policy (docs/hot-shards.md "Churn budget"):
 * when the replay's anchor moves, the decision in force came from the previous replay and the new
 * replay may disagree with it on more shards than one window's budget. The published decision
 * then moves from the old state toward the new replay's by at most `maxMovesPerWindow` shards per
 * window until the two agree. Pure: every replica derives the same steps.
 *
 * Which shards first: a mix of two states, each balanced on its own, need not be balanced (a
 * shard the new replay gave back to its home node, taken before the move that made room for it,
 * overloads that node). So each of the window's moves is the one that leaves the busiest node
 * least loaded under the modelled load, hotter shards first among equals.
 */

/** A shard's policy state as far as the churn budget counts it: owners (primary first) and readers. */
export interface CatchUpState {
  readonly owners: readonly string[];
  readonly readers: number;
}

/** Same owners in the same order and the same readers: no move between the two. */
export function sameShardState(a: CatchUpState | undefined, b: CatchUpState | undefined): boolean {
  if (a === undefined || b === undefined) return a === b;
  return a.readers === b.readers && a.owners.length === b.owners.length && a.owners.every((id, i) => id === b.owners[i]);
}

/** What the catch-up asks of the load model, for the published state as it changes. */
export interface CatchUpModel<S extends CatchUpState> {
  /** The busiest node's load over its weight share if `shard` had state `next` (undefined: plain rendezvous). */
  maxRatioWith(shard: number, next: S | undefined): number;
  /** The published state takes `next` for `shard` (the model follows). */
  take(shard: number, next: S | undefined): void;
  /** The shard's requests per second (hotter first among equal choices). */
  load(shard: number): number;
}

export interface CatchUpStep<S extends CatchUpState> {
  /** The published state after this window: `from` with up to `budget` shards taken from `to`. */
  readonly state: Map<number, S>;
  /** Shards this window changed. */
  readonly moves: number;
  /** Shards where `state` still differs from `to`. */
  readonly remaining: number;
}

/**
 * One window of the catch-up from `from` (the decision in force; a shard absent is plain
 * rendezvous) toward `to` (the new replay's state): every differing shard when they are at most
 * `budget`, else `budget` of them, each the one that leaves the busiest node least loaded
 * (`model`, which starts at `from`), ties by load, then shard. A shard both agree on takes `to`'s
 * entry, whose explanation is the newer one.
 */
export function catchUpStep<S extends CatchUpState>(from: ReadonlyMap<number, S>, to: ReadonlyMap<number, S>, budget: number, model: CatchUpModel<S>): CatchUpStep<S> {
  const differing = new Set<number>();
  for (const shard of new Set([...from.keys(), ...to.keys()])) {
    if (!sameShardState(from.get(shard), to.get(shard))) differing.add(shard);
  }
  const taken: number[] = [];
  if (differing.size <= budget) {
    for (const shard of differing) taken.push(shard);
    differing.clear();
  } else {
    for (let i = 0; i < budget; i++) {
      let best: { shard: number; ratio: number; load: number } | undefined;
      for (const shard of differing) {
        const c = { shard, ratio: model.maxRatioWith(shard, to.get(shard)), load: model.load(shard) };
        if (!best || c.ratio < best.ratio || (c.ratio === best.ratio && (c.load > best.load || (c.load === best.load && c.shard < best.shard)))) best = c;
      }
      model.take(best!.shard, to.get(best!.shard));
      differing.delete(best!.shard);
      taken.push(best!.shard);
    }
  }
  const took = new Set(taken);
  const state = new Map<number, S>();
  for (const [shard, s] of from) if (!took.has(shard)) state.set(shard, sameShardState(s, to.get(shard)) ? to.get(shard)! : s);
  for (const shard of took) {
    const s = to.get(shard);
    if (s !== undefined) state.set(shard, s);
  }
  return { state, moves: taken.length, remaining: differing.size };
}
