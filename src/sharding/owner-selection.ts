/**
 * Picks a shard's owners from the eligible endpoints' scores (hash contract 2, spread policy).
 *
 * The contract is a greedy walk in rank order (score descending, id ascending):
 *   none:    the top R.
 *   subzone: pass 1 takes candidates whose fabric differs from every owner chosen so far;
 *            pass 2 fills with the best remaining.
 *   zone:    pass 1 distinct zones; pass 2 distinct fabrics; pass 3 any.
 * Owners are listed in the order chosen. The walk is computed here in O(n) per shard by its
 * equivalent closed form: pass 1 of `subzone` is the top R of the fabric representatives (each
 * fabric's best candidate); pass 1 of `zone` the top R zone representatives, its pass 2 the top
 * fabric representatives of fabrics holding no pass-1 owner; the last pass the top remaining.
 * test/sharding/selection.test.ts checks this against a literal greedy walk.
 *
 * Most of a score's cost is ln(u), and most candidates are nowhere near the top. Because
 * -ln(u) >= 1 - u, score <= weight / (1 - u), a bound that needs no log. selectFromU scores exactly
 * only the R + 6 candidates with the largest bounds; those whose exact score beats every other
 * candidate's bound form a prefix of the true ranking, and if pass 1 fills within that prefix the
 * walk is complete. Otherwise (crowded fabrics, or too close to call) it scores everyone.
 */
import type { SpreadPolicy } from '../core/policy.js';
import type { EligibleSet } from './eligible-set.js';
import { scoreFromU } from './rendezvous-score.js';

/** Candidates scored exactly per shard on the fast path, beyond R. */
const PREFIX_EXTRA = 6;

/** Chooses one shard's owners at a time, reusing its scratch memory across shards (contract 2). */
export class OwnerSelector {
  /** Chosen eligible indices, in order chosen; `count` of them are valid after select(). */
  readonly outIdx: Int32Array;
  /** Pass (1-based) that chose each owner. */
  readonly outPass: Uint8Array;
  count = 0;

  // Fast path: the candidates with the largest score bounds, and the certified prefix.
  private readonly boundIdx: Int32Array;
  private readonly boundVal: Float64Array;
  private readonly prefix: Int32Array;

  // Bounded top-k, kept sorted best first.
  private readonly topIdx: Int32Array;
  private readonly topScore: Float64Array;
  private topK = 0;
  private topN = 0;

  // Generation-stamped scratch, indexed by zone/fabric id or by candidate, so nothing is cleared per shard.
  private gen = 0;
  private zoneStamp = new Uint32Array(0);
  private zoneRep = new Int32Array(0);
  private fabricStamp = new Uint32Array(0);
  private fabricRep = new Int32Array(0);
  private fabricTaken = new Uint32Array(0);
  private chosenStamp = new Uint32Array(0);
  private zoneList = new Int32Array(0);
  private fabricList = new Int32Array(0);

  constructor(
    readonly replicas: number,
    readonly spread: SpreadPolicy,
  ) {
    this.outIdx = new Int32Array(replicas);
    this.outPass = new Uint8Array(replicas);
    this.topIdx = new Int32Array(replicas);
    this.topScore = new Float64Array(replicas);
    this.boundIdx = new Int32Array(replicas + PREFIX_EXTRA + 1);
    this.boundVal = new Float64Array(replicas + PREFIX_EXTRA + 1);
    this.prefix = new Int32Array(replicas + PREFIX_EXTRA);
  }

  /**
   * Selects the owners of one shard from the candidates' u values (hash contract 2). Fills
   * `scores[i]` (score of candidate i, by scoreFromU) at least for every chosen candidate.
   */
  selectFromU(set: EligibleSet, u: Float64Array, scores: Float64Array): number {
    const n = set.n;
    if (n > this.replicas + PREFIX_EXTRA + 1 && this.selectFromPrefix(set, u, scores)) return this.count;
    const w = set.weight;
    for (let i = 0; i < n; i++) scores[i] = scoreFromU(u[i] as number, w[i] as number);
    return this.select(set, scores);
  }

  /** The fast path described above; false when the certified prefix does not fill pass 1. */
  private selectFromPrefix(set: EligibleSet, u: Float64Array, scores: Float64Array): boolean {
    const R = this.replicas;
    const K = R + PREFIX_EXTRA;
    const cap = K + 1;
    const bi = this.boundIdx;
    const bv = this.boundVal;
    const w = set.weight;
    let cnt = 0;
    let floor = 0; // bv[K] once the buffer is full
    for (let i = 0; i < set.n; i++) {
      const gap = 1 - (u[i] as number);
      const wi = w[i] as number;
      if (cnt === cap) {
        // wi / gap > floor, without the division (rounding here is covered by the margin below)
        if (!(wi > floor * gap)) continue;
        cnt--;
      }
      const b = wi / gap;
      let p = cnt;
      while (p > 0 && (bv[p - 1] as number) < b) {
        bv[p] = bv[p - 1] as number;
        bi[p] = bi[p - 1] as number;
        p--;
      }
      bv[p] = b;
      bi[p] = i;
      cnt++;
      if (cnt === cap) floor = bv[K] as number;
    }
    // Every candidate outside the first K has score <= its bound <= bv[K]. The margin covers the
    // rounding of the bound and of ln (a few ulps), so "exact score > limit" ranks strictly above them.
    const limit = (bv[K] as number) * (1 + 1e-9);
    const prefix = this.prefix;
    let m = 0;
    for (let j = 0; j < K; j++) {
      const i = bi[j] as number;
      const sc = scoreFromU(u[i] as number, w[i] as number);
      scores[i] = sc;
      if (sc > limit) {
        // insert into the prefix in rank order (score desc, index asc)
        let p = m++;
        while (p > 0) {
          const q = prefix[p - 1] as number;
          const qs = scores[q] as number;
          if (sc > qs || (sc === qs && i < q)) {
            prefix[p] = q;
            p--;
          } else break;
        }
        prefix[p] = i;
      }
    }
    if (m < R) return false;
    // Pass 1 of the greedy walk over the prefix.
    const spread = this.spread;
    const group = spread === 'zone' ? set.zone : set.fabric;
    let count = 0;
    for (let j = 0; j < m && count < R; j++) {
      const i = prefix[j] as number;
      if (spread !== 'none') {
        const g = group[i] as number;
        let clash = false;
        for (let k = 0; k < count; k++) if (group[this.outIdx[k] as number] === g) clash = true;
        if (clash) continue;
      }
      this.outIdx[count] = i;
      this.outPass[count] = 1;
      count++;
    }
    if (count < R) return false;
    this.count = count;
    return true;
  }

  /** Selects the owners of one shard from `scores[0, set.n)`; returns the owner count. */
  select(set: EligibleSet, scores: Float64Array): number {
    this.count = 0;
    if (this.spread === 'none') {
      this.topReset(this.replicas);
      for (let i = 0; i < set.n; i++) this.offer(i, scores[i] as number);
      this.emit(1);
      return this.count;
    }
    this.prepare(set.n, set.interned.localityBound);
    const gen = this.nextGen();
    const useZones = this.spread === 'zone';
    const fabricStamp = this.fabricStamp;
    const fabricRep = this.fabricRep;
    const zoneStamp = this.zoneStamp;
    const zoneRep = this.zoneRep;
    let fabrics = 0;
    let zones = 0;
    // Representatives: the best-ranked candidate of each fabric (and zone).
    for (let i = 0; i < set.n; i++) {
      const sc = scores[i] as number;
      const f = set.fabric[i] as number;
      if (fabricStamp[f] !== gen) {
        fabricStamp[f] = gen;
        fabricRep[f] = i;
        this.fabricList[fabrics++] = f;
      } else {
        const r = fabricRep[f] as number;
        const rs = scores[r] as number;
        if (sc > rs || (sc === rs && i < r)) fabricRep[f] = i;
      }
      if (useZones) {
        const z = set.zone[i] as number;
        if (zoneStamp[z] !== gen) {
          zoneStamp[z] = gen;
          zoneRep[z] = i;
          this.zoneList[zones++] = z;
        } else {
          const r = zoneRep[z] as number;
          const rs = scores[r] as number;
          if (sc > rs || (sc === rs && i < r)) zoneRep[z] = i;
        }
      }
    }
    const R = this.replicas;
    if (!useZones) {
      this.topReset(R);
      for (let j = 0; j < fabrics; j++) {
        const r = fabricRep[this.fabricList[j] as number] as number;
        this.offer(r, scores[r] as number);
      }
      this.emit(1);
      if (this.count < R) {
        this.topReset(R - this.count);
        for (let i = 0; i < set.n; i++) {
          if (fabricRep[set.fabric[i] as number] !== i) this.offer(i, scores[i] as number);
        }
        this.emit(2);
      }
      return this.count;
    }
    // zone
    this.topReset(R);
    for (let j = 0; j < zones; j++) {
      const r = zoneRep[this.zoneList[j] as number] as number;
      this.offer(r, scores[r] as number);
    }
    this.emit(1);
    if (this.count < R) {
      const taken = this.fabricTaken;
      for (let j = 0; j < this.count; j++) taken[set.fabric[this.outIdx[j] as number] as number] = gen;
      this.topReset(R - this.count);
      for (let j = 0; j < fabrics; j++) {
        const f = this.fabricList[j] as number;
        if (taken[f] !== gen) {
          const r = fabricRep[f] as number;
          this.offer(r, scores[r] as number);
        }
      }
      this.emit(2);
    }
    if (this.count < R) {
      const chosen = this.chosenStamp;
      for (let j = 0; j < this.count; j++) chosen[this.outIdx[j] as number] = gen;
      this.topReset(R - this.count);
      for (let i = 0; i < set.n; i++) {
        if (chosen[i] !== gen) this.offer(i, scores[i] as number);
      }
      this.emit(3);
    }
    return this.count;
  }

  private nextGen(): number {
    if (this.gen >= 0xfffffff0) {
      this.gen = 0;
      this.zoneStamp.fill(0);
      this.fabricStamp.fill(0);
      this.fabricTaken.fill(0);
      this.chosenStamp.fill(0);
    }
    return ++this.gen;
  }

  /** Grows the scratch arrays to cover every locality id (below `bound`) and `n` candidates. */
  private prepare(n: number, bound: number): void {
    if (this.fabricStamp.length < bound) {
      const size = Math.max(bound, this.fabricStamp.length * 2, 16);
      this.zoneStamp = new Uint32Array(size);
      this.zoneRep = new Int32Array(size);
      this.fabricStamp = new Uint32Array(size);
      this.fabricRep = new Int32Array(size);
      this.fabricTaken = new Uint32Array(size);
      this.zoneList = new Int32Array(size);
      this.fabricList = new Int32Array(size);
      this.gen = 0;
      this.chosenStamp.fill(0);
    }
    if (this.chosenStamp.length < n) {
      this.chosenStamp = new Uint32Array(Math.max(n, this.chosenStamp.length * 2, 16));
      this.gen = 0;
      this.zoneStamp.fill(0);
      this.fabricStamp.fill(0);
      this.fabricTaken.fill(0);
    }
  }

  private topReset(k: number): void {
    this.topK = k;
    this.topN = 0;
  }

  /** Offers candidate i; keeps the best topK by (score desc, index asc). */
  private offer(i: number, sc: number): void {
    const idx = this.topIdx;
    const scs = this.topScore;
    let n = this.topN;
    if (n === this.topK) {
      if (n === 0) return;
      const ls = scs[n - 1] as number;
      if (!(sc > ls || (sc === ls && i < (idx[n - 1] as number)))) return;
      n--;
    }
    let p = n;
    while (p > 0) {
      const ps = scs[p - 1] as number;
      const pi = idx[p - 1] as number;
      if (sc > ps || (sc === ps && i < pi)) {
        scs[p] = ps;
        idx[p] = pi;
        p--;
      } else break;
    }
    scs[p] = sc;
    idx[p] = i;
    this.topN = n + 1;
  }

  /** Appends the current top-k to the output as chosen by `pass`. */
  private emit(pass: number): void {
    for (let j = 0; j < this.topN; j++) {
      this.outIdx[this.count] = this.topIdx[j] as number;
      this.outPass[this.count] = pass;
      this.count++;
    }
  }
}
