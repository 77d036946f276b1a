/**
 * The bodies of `GET /v1/changes` (docs/api.md), as shared bytes. The whole form lists every moved
 * shard: 32 changes at S = 131072 reach 100 MB. The bounded form (`?moves=N`) lists at most N
 * moves per change and adds the change's largest primary hand-overs, which is all the web view
 * shows, so a poller need not download the whole list to say what moved.
 */
import type { ShardMapChange } from '../core/serving.js';
import type { ChangeBody, ChangesBody, PrimaryHandoverBody } from './api-types.js';

/** Largest `moves` accepted: a client that wants more takes the whole form (no `moves`). */
export const MAX_CHANGE_MOVES_SHOWN = 1000;
/** How many primary hand-overs (from → to pairs) a change of the bounded form names. */
export const PRIMARY_HANDOVERS_SHOWN = 3;
/** Bounded forms kept per history: a few clients' N, not one body per N a caller tries. */
const BOUNDED_KEPT = 4;

/** The moves whose primary changed, per (from, to) pair, largest first; ties in shard order. */
function primaryHandovers(change: ShardMapChange): readonly PrimaryHandoverBody[] {
  // Nested maps, not a joined key: no string built per move (a change may move 131072 shards).
  const byFrom = new Map<string | undefined, Map<string | undefined, { from?: string; to?: string; shards: number }>>();
  const pairs: { from?: string; to?: string; shards: number }[] = [];
  for (const m of change.moves) {
    const from = m.from[0];
    const to = m.to[0];
    if (from === to) continue;
    let byTo = byFrom.get(from);
    if (!byTo) byFrom.set(from, (byTo = new Map()));
    const p = byTo.get(to);
    if (p) p.shards++;
    else {
      const pair = { ...(from !== undefined ? { from } : {}), ...(to !== undefined ? { to } : {}), shards: 1 };
      byTo.set(to, pair);
      pairs.push(pair);
    }
  }
  // Array.prototype.sort is stable: equal counts keep the order their first shard gave them.
  return pairs.sort((a, b) => b.shards - a.shards).slice(0, PRIMARY_HANDOVERS_SHOWN);
}

/**
 * The `/v1/changes` answers over one reader's history, each serialized once: the whole form once
 * per history (a new array on each change), a bounded form once per history and N.
 */
export function changesBodies(): { whole(history: readonly ShardMapChange[]): Buffer; bounded(history: readonly ShardMapChange[], moves: number): Buffer } {
  const whole = new WeakMap<readonly ShardMapChange[], Buffer>();
  const bounded = new WeakMap<readonly ShardMapChange[], Map<number, Buffer>>();
  // Per change, not per history: a new change does not recount the 31 before it.
  const handovers = new WeakMap<ShardMapChange, readonly PrimaryHandoverBody[]>();
  const head = (c: ShardMapChange) => ({ fromVersion: c.fromVersion, toVersion: c.toVersion, at: c.at.toISOString(), movedShards: c.moves.length });
  const bytes = (body: ChangesBody): Buffer => Buffer.from(JSON.stringify(body), 'utf8');
  return {
    whole(history) {
      let b = whole.get(history);
      if (!b) whole.set(history, (b = bytes({ changes: history.map((c) => ({ ...head(c), moves: c.moves })) })));
      return b;
    },
    bounded(history, moves) {
      // An N past the largest change lists the same as that change's size: one body for all of them.
      const n = Math.min(moves, history.reduce((max, c) => Math.max(max, c.moves.length), 0));
      let forms = bounded.get(history);
      if (!forms) bounded.set(history, (forms = new Map()));
      let b = forms.get(n);
      if (b) {
        forms.delete(n); // most recently used last
        forms.set(n, b);
        return b;
      }
      const changes = history.map((c): ChangeBody => {
        let top = handovers.get(c);
        if (!top) handovers.set(c, (top = primaryHandovers(c)));
        return { ...head(c), moves: c.moves.slice(0, n), primaries: top };
      });
      b = bytes({ changes });
      forms.set(n, b);
      if (forms.size > BOUNDED_KEPT) forms.delete(forms.keys().next().value!);
      return b;
    },
  };
}
