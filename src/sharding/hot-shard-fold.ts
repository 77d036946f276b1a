/**
 * One step of the hot-shard policy (docs/hot-shards.md "The algorithm"): the fold's state (which
 * shards are spread or moved, to whom, and why), the load model it judges by, and the step that
 * spreads hot shards and moves shards off overloaded nodes within the churn budget. hot-shards.ts
 * replays these steps window by window; this file holds no notion of windows or anchors.
 */
import type { HotShardReason, HotShardSettings, LoadSnapshot } from '../core/load.js';
import { compareStrings } from '../core/order.js';
import { type ShardMap, shardReaders } from '../core/shard-map.js';
import type { CatchUpModel } from './hot-shard-catch-up.js';
import { usable } from './hot-shard-history.js';
import { endpointKey, scoreShard, shardStep } from './rendezvous-score.js';

/** The policy's change to one shard, during the fold. */
export interface ShardState {
  /** Owners after the policy, primary first. */
  readonly owners: readonly string[];
  readonly readers: number;
  readonly reason: HotShardReason;
  readonly explanation: string;
}

export interface StepResult {
  readonly moves: number;
  readonly deferred: number;
}

/**
 * A load ratio to three decimals, for the `maxLoadRatio` fields of a decision (docs/hot-shards.md
 * "What `/v1/shardmap` shows"); the fold itself judges unrounded ratios.
 */
export function round3(x: number): number {
  return Math.round(x * 1000) / 1000;
}

function fmt(x: number): string {
  return x >= 10 ? x.toFixed(0) : x.toFixed(2);
}

/** Modelled node loads for one snapshot under the fold's current state. */
export class LoadModel {
  constructor(
    readonly total: number,
    readonly totalWeight: number,
    readonly load: Map<string, number>,
    readonly weight: ReadonlyMap<string, number>,
    /** Requests per second each shard the snapshot does not list adds to its primary. */
    readonly perUnlisted = 0,
  ) {}

  copy(): LoadModel {
    return new LoadModel(this.total, this.totalWeight, new Map(this.load), this.weight, this.perUnlisted);
  }

  /** The node's weight share of the total, in requests per second. */
  share(id: string): number {
    return (this.total * (this.weight.get(id) ?? 0)) / this.totalWeight;
  }

  ratio(id: string): number {
    const share = this.share(id);
    return share > 0 ? (this.load.get(id) ?? 0) / share : 0;
  }

  maxRatio(): number {
    let max = 0;
    for (const id of this.weight.keys()) max = Math.max(max, this.ratio(id));
    return max;
  }

  add(id: string, requests: number): void {
    this.load.set(id, (this.load.get(id) ?? 0) + requests);
  }
}

/**
 * What every fold of one plain map shares: its serving endpoints and the rendezvous order of each
 * shard asked for. Pure functions of the map, so they are kept per map object rather than per
 * fold: a decision runs two or three folds over the same map, and `keyway serve` keeps the map
 * between windows, so a hot shard's order (a score per endpoint) is computed once per map.
 */
interface ServingEndpoints {
  /** Serving endpoints (ready, weight > 0), sorted by id. */
  readonly ids: readonly string[];
  readonly weight: ReadonlyMap<string, number>;
  readonly totalWeight: number;
  /** Contract 2's endpoint keys and the weights of `ids`, for scoreShard. */
  readonly keyHi: Uint32Array;
  readonly keyLo: Uint32Array;
  readonly weights: Float64Array;
  readonly order: Map<number, readonly string[]>;
}

const servingByMap = new WeakMap<ShardMap, ServingEndpoints>();

function servingEndpoints(map: ShardMap): ServingEndpoints {
  let found = servingByMap.get(map);
  if (found) return found;
  const weight = new Map<string, number>();
  for (const e of map.endpoints) if (e.ready && e.weight > 0 && Number.isFinite(e.weight)) weight.set(e.id, e.weight);
  const ids = [...weight.keys()].sort(compareStrings);
  let totalWeight = 0;
  for (const id of ids) totalWeight += weight.get(id)!;
  const keyHi = new Uint32Array(ids.length);
  const keyLo = new Uint32Array(ids.length);
  const weights = new Float64Array(ids.length);
  ids.forEach((id, i) => {
    const k = endpointKey(id);
    keyHi[i] = k.hi;
    keyLo[i] = k.lo;
    weights[i] = weight.get(id)!;
  });
  found = { ids, weight, totalWeight, keyHi, keyLo, weights, order: new Map() };
  servingByMap.set(map, found);
  return found;
}

/**
 * After a step judged too light (under `minWindowRequests`), the policy acts again only from this
 * many times `minWindowRequests` (docs/hot-shards.md "When there is no load"): a load hovering at
 * the line would otherwise spread shards in one window and give them back in the next, for good.
 */
export const LIGHT_LOAD_RESUME = 1.5;

/** The fold's state and one step of it. */
export class HotShardFold {
  readonly state = new Map<number, ShardState>();
  /** The last step was judged too light (hysteresis around minWindowRequests); a replay starts without. */
  #light = false;
  /**
   * Serving nodes the judged snapshot does not list, while it lists others (silentNodes): their load
   * is unknown, so a step neither spreads onto them nor moves shards to them.
   */
  #silent: ReadonlySet<string> = new Set();
  /** Serving endpoints (ready, weight > 0), sorted by id. */
  readonly ids: readonly string[];
  readonly #serving: ServingEndpoints;
  readonly #weight: ReadonlyMap<string, number>;
  readonly #totalWeight: number;

  constructor(
    readonly map: ShardMap,
    readonly settings: HotShardSettings,
  ) {
    this.#serving = servingEndpoints(map);
    this.ids = this.#serving.ids;
    this.#weight = this.#serving.weight;
    this.#totalWeight = this.#serving.totalWeight;
  }

  /** Requests per second by shard (entries outside [0, S) or not positive ignored; repeats summed). */
  loadsOf(snapshot: LoadSnapshot): Map<number, number> {
    const S = this.map.owners.length;
    const out = new Map<number, number>();
    for (const s of snapshot.shards) {
      const r = usable(s.requests);
      if (!Number.isInteger(s.shard) || s.shard < 0 || s.shard >= S || r === 0) continue;
      out.set(s.shard, (out.get(s.shard) ?? 0) + r);
    }
    return out;
  }

  /** The owners the shard has now (the policy's or the map's). */
  owners(shard: number): readonly string[] {
    return this.state.get(shard)?.owners ?? this.map.owners[shard] ?? [];
  }

  readers(shard: number): number {
    return this.state.get(shard)?.readers ?? 1;
  }

  /**
   * At least the first `count` of the shard's candidates in rendezvous order (all when there are
   * fewer): its map owners (the replica-spread policy's choice), then every other serving endpoint
   * by descending score (ties by id). A step looks only a few places down it, so no more is ranked:
   * ranking all is a score per endpoint and a sort of them, for every hot shard of every map.
   */
  rendezvousOrder(shard: number, count: number): readonly string[] {
    const { ids, keyHi, keyLo, weights, order: byShard } = this.#serving;
    const known = byShard.get(shard);
    if (known !== undefined && (known.length >= count || known.length === ids.length)) return known;
    const base = (this.map.owners[shard] ?? []).filter((id) => this.#weight.has(id));
    const inBase = new Set(base);
    const g = shardStep(shard);
    const scores = new Float64Array(ids.length);
    scoreShard(keyHi, keyLo, weights, ids.length, g.hi, g.lo, scores);
    // The best `want` of the rest, by score and then id (ids are sorted, so by index), kept sorted.
    const want = Math.max(count, 2 * (known?.length ?? 4)) - base.length;
    const top: number[] = [];
    const before = (a: number, b: number): boolean => scores[a]! > scores[b]! || (scores[a] === scores[b] && a < b);
    for (let i = 0; i < ids.length; i++) {
      if (inBase.has(ids[i]!) || (top.length >= want && !before(i, top[top.length - 1]!))) continue;
      let at = top.length;
      while (at > 0 && before(i, top[at - 1]!)) at--;
      top.splice(at, 0, i);
      if (top.length > want) top.pop();
    }
    const order = [...base, ...top.map((i) => ids[i]!)];
    byShard.set(shard, order);
    return order;
  }

  /**
   * Current owners first, then the rest of the rendezvous order: where extra readers come from.
   * Only the first `extra` beyond the owners: a step looks no further than its reader cap or
   * replica count ahead.
   */
  candidates(shard: number): readonly string[] {
    const owners = this.owners(shard).filter((id) => this.#weight.has(id));
    const extra = Math.max(this.settings.maxReaders, this.map.policy.replicas) + 1;
    const taken = new Set(owners);
    const out = [...owners];
    // The owners may sit anywhere in the order: looking as far as their number again is enough.
    for (const id of this.rendezvousOrder(shard, 2 * owners.length + extra)) {
      if (out.length >= owners.length + extra) break;
      if (!taken.has(id)) out.push(id);
    }
    if (this.#silent.size === 0) return out;
    // Nodes whose load is unknown come last (after the primary): none is made a reader.
    const rest = out.slice(1);
    return [out[0]!, ...rest.filter((id) => !this.#silent.has(id)), ...rest.filter((id) => this.#silent.has(id))];
  }

  #weightOf(ids: readonly string[], k: number): number {
    let w = 0;
    for (let i = 0; i < k && i < ids.length; i++) w += this.#weight.get(ids[i]!) ?? 0;
    return w;
  }

  /** Modelled node loads under the current state. */
  model(snapshot: LoadSnapshot): LoadModel {
    return this.#model(snapshot, (s) => this.owners(s), (s) => this.readers(s));
  }

  /** Modelled node loads under the map's own owners and readers (plain rendezvous for the policy's input). */
  mapModel(snapshot: LoadSnapshot): LoadModel {
    return this.#model(snapshot, (s) => this.map.owners[s] ?? [], (s) => shardReaders(this.map, s));
  }

  #model(snapshot: LoadSnapshot, ownersOf: (s: number) => readonly string[], readersOf: (s: number) => number): LoadModel {
    const loads = this.loadsOf(snapshot);
    let listed = 0;
    for (const r of loads.values()) listed += r;
    let nodesTotal = 0;
    for (const n of snapshot.nodes) nodesTotal += usable(n.requests);
    const total = Math.max(listed, nodesTotal);
    // Shards too cold to be reported: their requests split evenly among their primaries.
    const residual = total - listed;
    const S = this.map.owners.length;
    const per = residual > 0 ? residual / Math.max(1, S - loads.size) : 0;
    const model = new LoadModel(total, this.#totalWeight, new Map(this.ids.map((id) => [id, 0])), this.#weight, per);
    if (total === 0 || this.#totalWeight === 0) return model;
    for (const [shard, r] of loads) this.#spreadLoad(model, r, ownersOf(shard), readersOf(shard), 1);
    if (residual > 0) {
      for (let s = 0; s < S; s++) {
        if (loads.has(s)) continue;
        const p = ownersOf(s)[0];
        if (p !== undefined && this.#weight.has(p)) model.add(p, per);
      }
    }
    return model;
  }

  /**
   * The catch-up's view of this fold's state under `snapshot` (hot-shard-catch-up.ts): the
   * busiest node's ratio were one shard to take another state, and taking it.
   */
  catchUpModel(snapshot: LoadSnapshot): CatchUpModel<ShardState> {
    // Built on first use: a catch-up within the budget takes every shard and asks nothing.
    let built: LoadModel | undefined;
    let shardLoads: Map<number, number> | undefined;
    /** Serving nodes by ratio under `built`, highest first (ties in any order: only the top is read). */
    let ranked: string[] | undefined;
    const modelled = (): LoadModel => (built ??= this.model(snapshot));
    const byRatio = (): string[] => {
      const m = modelled();
      return (ranked ??= [...this.ids].sort((a, b) => m.ratio(b) - m.ratio(a)));
    };
    const loadOf = (shard: number): number | undefined => (shardLoads ??= this.loadsOf(snapshot)).get(shard);
    const plainOwners = (shard: number): readonly string[] => this.map.owners[shard] ?? [];
    /**
     * The loads of the nodes the shard's move from its current state to `next` changes, after it:
     * the same additions, in the same order, as on the model itself, so the same figures.
     */
    const shifted = (m: LoadModel, shard: number, next: ShardState | undefined): Map<string, number> => {
      const out = new Map<string, number>();
      const add = (id: string, x: number): void => void out.set(id, (out.get(id) ?? m.load.get(id) ?? 0) + x);
      const r = loadOf(shard);
      const owners = next?.owners ?? plainOwners(shard);
      if (r !== undefined) {
        this.#spreadEach(r, this.owners(shard), this.readers(shard), -1, add);
        this.#spreadEach(r, owners, next?.readers ?? 1, 1, add);
        return out;
      }
      for (const [id, sign] of [[this.owners(shard)[0], -1], [owners[0], 1]] as const) {
        if (id !== undefined && this.#weight.has(id)) add(id, sign * m.perUnlisted);
      }
      return out;
    };
    return {
      load: (shard) => loadOf(shard) ?? 0,
      // The busiest of the nodes the move changes and of the rest, whose ratios it leaves as they
      // are: a few nodes per candidate rather than a copy of every node's load, since the
      // catch-up asks this for every differing shard, budget times per window.
      maxRatioWith: (shard, next) => {
        const m = modelled();
        const changed = shifted(m, shard, next);
        let max = 0;
        for (const [id, load] of changed) {
          const share = m.share(id);
          max = Math.max(max, share > 0 ? load / share : 0);
        }
        for (const id of byRatio()) {
          if (changed.has(id)) continue;
          max = Math.max(max, m.ratio(id));
          break;
        }
        return max;
      },
      take: (shard, next) => {
        const m = modelled();
        const changed = shifted(m, shard, next);
        const order = byRatio();
        for (const [id, load] of changed) {
          order.splice(order.indexOf(id), 1);
          m.load.set(id, load);
          const ratio = m.ratio(id);
          let lo = 0;
          let hi = order.length;
          while (lo < hi) {
            const mid = (lo + hi) >>> 1;
            if (m.ratio(order[mid]!) > ratio) lo = mid + 1;
            else hi = mid;
          }
          order.splice(lo, 0, id);
        }
        if (next) this.state.set(shard, next);
        else this.state.delete(shard);
      },
    };
  }

  /** Adds (sign 1) or removes (sign -1) a shard's requests split among its first `readers` serving owners by weight. */
  #spreadLoad(model: LoadModel, requests: number, owners: readonly string[], readers: number, sign: 1 | -1): void {
    this.#spreadEach(requests, owners, readers, sign, (id, x) => model.add(id, x));
  }

  /** Each serving reader's part of a shard's requests (`sign` x requests x its weight / the readers' weight), to `add`. */
  #spreadEach(requests: number, owners: readonly string[], readers: number, sign: 1 | -1, add: (id: string, x: number) => void): void {
    const serving = owners.filter((id) => this.#weight.has(id)).slice(0, Math.max(1, readers));
    const w = this.#weightOf(serving, serving.length);
    if (w === 0) return;
    for (const id of serving) add(id, (sign * requests * this.#weight.get(id)!) / w);
  }

  /**
   * One window: spread hot shards (hottest first), then bounded-load moves off overloaded nodes,
   * then un-spreads and reverts of shards that cooled; at most `maxMovesPerWindow` in all.
   */
  step(snapshot: LoadSnapshot): StepResult {
    const { epsilon, margin, spreadThreshold, maxReaders, maxMovesPerWindow, minWindowRequests } = this.settings;
    const loads = this.loadsOf(snapshot);
    const model = this.model(snapshot);
    const total = model.total;
    const W = this.#totalWeight;
    this.#silent = silentNodes(this.ids, snapshot);
    let moves = 0;
    let deferred = 0;
    const budgetLeft = (): boolean => moves < maxMovesPerWindow;
    /** Load over weight share each of `k` readers takes from a shard of `r` requests (the same for all, by the weighted split). */
    const heat = (r: number, ids: readonly string[], k: number): number => {
      const w = this.#weightOf(ids, k);
      return total > 0 && w > 0 ? (r * W) / (total * w) : 0;
    };
    const setState = (shard: number, r: number, next: ShardState | undefined): void => {
      this.#spreadLoad(model, r, this.owners(shard), this.readers(shard), -1);
      if (next === undefined || (next.readers === 1 && sameList(next.owners, this.map.owners[shard] ?? []))) this.state.delete(shard);
      else this.state.set(shard, next);
      this.#spreadLoad(model, r, this.owners(shard), this.readers(shard), 1);
      moves++;
    };

    // Too few requests in the window (total is per second) to tell a hot shard from chance, and no
    // node worth protecting: judged as no load, so every changed shard goes back to plain
    // rendezvous, coolest first, within the churn budget. Once light, it stays so up to
    // LIGHT_LOAD_RESUME x the line, so a load at the line does not flap.
    const requests = (total * snapshot.windowMs) / 1000;
    this.#light = requests < minWindowRequests || (this.#light && requests < minWindowRequests * LIGHT_LOAD_RESUME);
    if (this.#light) {
      const changed = [...this.state.keys()].map((sh) => [sh, loads.get(sh) ?? 0] as const).sort((a, b) => a[1] - b[1] || a[0] - b[0]);
      for (const [shard, r] of changed) {
        if (budgetLeft()) setState(shard, r, undefined);
        else deferred++;
      }
      return { moves, deferred };
    }

    // Hottest first, ties by shard: the order every replica applies the budget in.
    const hottest = [...loads.entries()].sort((a, b) => b[1] - a[1] || a[0] - b[0]);

    // 1. Spread: a shard above the threshold at its current readers gets the fewest more readers that bring it under.
    // Candidates are every serving endpoint, the shard's owners first; computing their rendezvous
    // order costs a score per endpoint, so it is done only for shards that may be spread: none
    // after the first shard that would stay under the threshold even on the lightest node alone
    // (shards come hottest first), and none whose current readers keep it under.
    const cap = Math.min(maxReaders, this.ids.length);
    const lightest = Math.min(...this.ids.map((id) => this.#weight.get(id)!));
    for (const [shard, r] of hottest) {
      if (!(total > 0) || (r * W) / (total * lightest) <= spreadThreshold) break;
      const k = this.readers(shard);
      if (k >= cap) continue;
      const current = this.owners(shard).filter((id) => this.#weight.has(id));
      if (current.length >= k && heat(r, current, k) <= spreadThreshold) continue;
      const cands = this.candidates(shard);
      if (heat(r, cands, k) <= spreadThreshold) continue;
      let next = k + 1;
      while (next < cap && heat(r, cands, next) > spreadThreshold) next++;
      if (!budgetLeft()) {
        deferred++;
        continue;
      }
      const h1 = heat(r, cands, 1);
      setState(shard, r, {
        owners: cands.slice(0, Math.max(next, this.owners(shard).length)),
        readers: next,
        reason: 'spread',
        explanation:
          `alone ${fmt(h1)}x its primary's weight share (spread above ${spreadThreshold}x): ` +
          `spread to ${next} readers, ${fmt(heat(r, cands, next))}x of each one's share`,
      });
    }

    // 2. Bounded load: the busiest node above (1 + epsilon + margin) x its share sheds the hottest
    // shards it leads alone to the first next owner in rendezvous order that stays under the bound.
    // Hysteresis around the bound: a node sheds only above bound + margin, a receiver must stay
    // within the bound, and a moved shard goes back (step 3) only when its rendezvous primary stays
    // within bound - margin. Judged loads are means of noisy windows; without the band a node whose
    // ratio sits near the bound would shed in one window and take the shard back in the next.
    const bound = 1 + epsilon;
    const shedAbove = bound + margin;
    const backAtMost = bound - margin;
    const stuck = new Set<string>();
    const over = new BusiestFirst(this.ids, (id) => model.ratio(id), shedAbove);
    // The listed shards each node leads alone, as positions in `hottest`, ascending.
    const ledAlone = new Map<string, number[]>();
    hottest.forEach(([shard], i) => {
      const p = this.owners(shard)[0];
      if (this.readers(shard) === 1 && p !== undefined) ledAlone.set(p, [...(ledAlone.get(p) ?? []), i]);
    });
    for (;;) {
      const worst = over.first();
      if (worst === undefined) break;
      if (!budgetLeft()) {
        deferred += over.size;
        break;
      }
      const before = model.ratio(worst);
      let moved = false;
      for (const h of ledAlone.get(worst) ?? []) {
        const [shard, r] = hottest[h]!;
        const cands = this.candidates(shard);
        const reach = Math.min(cands.length, Math.max(this.map.policy.replicas, maxReaders) + 1);
        for (let i = 1; i < reach; i++) {
          const to = cands[i]!;
          if (this.#silent.has(to) || ((model.load.get(to) ?? 0) + r) / model.share(to) > bound) continue;
          // The former owners stay, after the new primary: failover targets and the warm-up source.
          // Back on its rendezvous primary, the shard is plain again, as when cooling gives it back:
          // kept as a change, it would hold an owner plain rendezvous does not give it, and cooling
          // (which counts its requests onto its home once more) would rarely let go of it.
          const back = this.map.owners[shard]?.[0] === to;
          setState(
            shard,
            r,
            back
              ? undefined
              : {
                  owners: [to, ...this.owners(shard).filter((id) => id !== to)],
                  readers: 1,
                  reason: 'bounded-load',
                  explanation: `node ${worst} at ${fmt(before)}x its weight share (sheds above ${fmt(shedAbove)}x): primary moved to ${to}, next in rendezvous order`,
                },
          );
          moved = true;
          ledAlone.set(worst, ledAlone.get(worst)!.filter((j) => j !== h));
          ledAlone.set(to, [...(ledAlone.get(to) ?? []), h].sort((a, b) => a - b));
          // Its receiver stays within the bound, but rounding may put it over the line all the same.
          if (!stuck.has(to)) over.place(to);
          break;
        }
        if (moved) break;
      }
      over.remove(worst);
      if (moved) over.place(worst);
      else stuck.add(worst);
    }

    // 3. Cooling: un-spread below half the threshold, revert a moved primary when its rendezvous
    // primary stays within (1 + epsilon - margin) x its share, or within the bound when the shard's
    // current primary is above it; coolest first, ties by shard.
    const coolest = [...this.state.keys()].map((s) => [s, loads.get(s) ?? 0] as const).sort((a, b) => a[1] - b[1] || a[0] - b[0]);
    for (const [shard, r] of coolest) {
      const cur = this.state.get(shard)!;
      const owners = cur.owners;
      if (cur.readers > 1) {
        let next = cur.readers;
        while (next > 1 && heat(r, owners, next - 1) < spreadThreshold / 2) next--;
        if (next === cur.readers) continue;
        if (!budgetLeft()) {
          deferred++;
          continue;
        }
        const plain = this.map.owners[shard] ?? [];
        const keep = cooledOwners(owners, next, plain);
        setState(shard, r, {
          owners: keep,
          readers: next,
          reason: next > 1 ? 'spread' : 'bounded-load',
          // Down to one reader on a moved primary: it stays a bounded-load move until its home can
          // take it back, and the explanation says so rather than describe the spread alone.
          explanation: next > 1 ? `${cur.explanation}; cooled to ${next} readers` : `${cur.explanation}; cooled to 1 reader, its primary still moved to ${keep[0]} (rendezvous primary ${plain[0]})`,
        });
        continue;
      }
      const home = this.map.owners[shard]?.[0];
      if (home === undefined || !this.#weight.has(home)) continue;
      const after = total > 0 ? ((model.load.get(home) ?? 0) + r) / model.share(home) : 0;
      // A move is kept while its home would still be above bound - margin with the shard back and
      // its new primary is within the bound; once the new primary is above the bound, the shard
      // goes back if home stays within it (so kept moves never leave a node above the bound that
      // plain rendezvous would not).
      const holder = cur.owners[0];
      const holderOver = holder !== undefined && holder !== home && model.ratio(holder) > bound;
      if (after > backAtMost && !(holderOver && after <= bound)) continue;
      if (!budgetLeft()) {
        deferred++;
        continue;
      }
      setState(shard, r, undefined);
    }
    return { moves, deferred };
  }
}

/**
 * The nodes above the shed line, busiest first, ties in id order (the order the bounded-load step
 * has always taken them in). A move changes two nodes' loads, so keeping the list sorted by
 * re-placing those two replaces a pass over every node per move or stuck node: with thousands of
 * endpoints, many sit over the line through the noise of their cold shards and cannot shed.
 */
class BusiestFirst {
  readonly #rank: ReadonlyMap<string, number>;
  readonly #list: string[];

  constructor(
    ids: readonly string[],
    private readonly ratio: (id: string) => number,
    private readonly above: number,
  ) {
    this.#rank = new Map(ids.map((id, i) => [id, i]));
    this.#list = ids.filter((id) => ratio(id) > above).sort((a, b) => this.#compare(a, b));
  }

  get size(): number {
    return this.#list.length;
  }

  first(): string | undefined {
    return this.#list[0];
  }

  remove(id: string): void {
    const i = this.#list.indexOf(id);
    if (i >= 0) this.#list.splice(i, 1);
  }

  /** Puts `id` in its place by its ratio now, if above the line (and not already listed). */
  place(id: string): void {
    if (this.#list.includes(id) || !(this.ratio(id) > this.above)) return;
    let lo = 0;
    let hi = this.#list.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.#compare(this.#list[mid]!, id) < 0) lo = mid + 1;
      else hi = mid;
    }
    this.#list.splice(lo, 0, id);
  }

  #compare(a: string, b: string): number {
    return this.ratio(b) - this.ratio(a) || this.#rank.get(a)! - this.#rank.get(b)!;
  }
}

/**
 * A spread shard's owners once cooled to `readers`: its first `readers` owners (the primary, moved
 * or not, first), then its plain owners not among them, in order. Cut at a length instead, a moved
 * shard would drop a plain replica that followed the extra readers (plain [A, C], moved to B and
 * spread to [B, A, C, D], one reader: [B, A]); as it is, it keeps the owners a bounded-load move
 * from plain rendezvous gives ([B, A, C]), and a shard on its rendezvous primary at one reader is
 * plain again.
 */
function cooledOwners(owners: readonly string[], readers: number, plain: readonly string[]): string[] {
  const keep = owners.slice(0, readers);
  for (const id of plain) if (!keep.includes(id)) keep.push(id);
  return keep;
}

/**
 * The serving nodes `snapshot` does not list when it lists at least one of them. Every agent reports
 * each window, idle or not, so such a node runs no agent or its reports stopped: the model sees only
 * the requests others counted on its shards, and judged it the idlest node, so it got the moved
 * shards and extra readers of the others on top of the load it serves unseen. A snapshot that lists
 * none of them (nodes not named, as in tests and files) says nothing about any.
 */
function silentNodes(ids: readonly string[], snapshot: LoadSnapshot): ReadonlySet<string> {
  const listed = new Set<string>();
  for (const n of snapshot.nodes) listed.add(n.nodeId);
  const silent = new Set(ids.filter((id) => !listed.has(id)));
  return silent.size === ids.length ? new Set() : silent;
}

function sameList(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}
