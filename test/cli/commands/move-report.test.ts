import { test } from 'node:test';
import assert from 'node:assert/strict';
import { moveReport, coldShares } from '../../../src/cli/commands/move-report.js';
import { computeShardMap, diffShardMaps } from '../../../src/sharding/index.js';
import type { Endpoint } from '../../../src/core/endpoint.js';
import { handMap } from './hand-map.js';

test('cold shares and pair tables on a hand-worked 4-shard example', () => {
  const from = handMap([['a', 'b'], ['b', 'c'], ['c', 'a'], ['a', 'c']]);
  const to = handMap([['b', 'a'], ['b', 'c'], ['d', 'a'], ['a', 'd']]);
  const r = moveReport(from, to);
  // Shard 0: primary a -> b (b held a copy as replica); shard 2: primary c -> d (d held nothing);
  // shard 3: replica c -> d.
  assert.equal(r.movedShards, 3);
  assert.equal(r.primaryChangedShards, 2);
  assert.equal(r.cold.primary, 1 / 4); // shard 2 only
  assert.equal(r.cold.primaryChanged, 2 / 4); // shards 0 and 2
  assert.equal(r.cold.copies, 2 / 8); // (2, d) and (3, d) of 8 owner slots
  assert.deepEqual(r.cold.counts, { keys: 4, primaryCold: 1, primaryChanged: 2, copySlots: 8, copiesCold: 2 });
  assert.equal(r.cold.approximate, false);
  assert.deepEqual(r.primaryMoves, [
    { from: 'a', to: 'b', shards: 1 },
    { from: 'c', to: 'd', shards: 1 },
  ]);
  assert.deepEqual(r.copyMoves, [{ from: 'c', to: 'd', shards: 2 }]);
  const row = (id: string) => r.endpoints.find((e) => e.id === id)!;
  assert.deepEqual([row('c').lost, row('c').gained, row('c').primaryLost], [2, 0, 1]);
  assert.deepEqual([row('d').gained, row('d').primaryGained, row('d').owned], [2, 1, { before: 0, after: 2 }]);
  assert.deepEqual([row('b').primaryGained, row('a').primaryLost], [1, 1]);
});

test('when S changes, shares are averaged over residues modulo lcm(S, S\')', () => {
  // S = 2 -> 4, lcm 4: residue r sits on old shard r % 2 and new shard r % 4.
  const from = handMap([['a', 'b'], ['c', 'd']]);
  const to = handMap([['a', 'c'], ['d', 'c'], ['b', 'a'], ['c', 'a']]);
  const r = moveReport(from, to);
  assert.equal(r.sameShardCount, false);
  assert.equal(r.movedShards, null);
  assert.deepEqual(r.primaryMoves, []);
  // r=0: old [a,b] new [a,c]: primary warm, unchanged; c cold.
  // r=1: old [c,d] new [d,c]: primary d warm (replica), changed; nothing cold.
  // r=2: old [a,b] new [b,a]: primary b warm, changed; nothing cold.
  // r=3: old [c,d] new [c,a]: primary c warm, unchanged; a cold.
  assert.deepEqual(r.cold.counts, { keys: 4, primaryCold: 0, primaryChanged: 2, copySlots: 8, copiesCold: 2 });
  assert.equal(r.endpoints.find((e) => e.id === 'a')!.gained, undefined, 'no shard-level tables across S');
});

function endpoints(n: number): Endpoint[] {
  return Array.from({ length: n }, (_, i) => ({
    id: `n${i}`,
    address: '10.0.0.1',
    port: 7000 + i,
    locality: { region: 'r', zone: `z${i % 2}`, subzone: `f${i % 4}` },
    weight: 10 + 10 * (i % 3),
    ready: true,
  }));
}

test('removing an endpoint: only its shards move, and the report agrees with diffShardMaps', () => {
  const policy = { shardCount: 512, replicas: 2, spread: 'subzone' as const };
  const all = endpoints(8);
  const from = computeShardMap(all, policy);
  const to = computeShardMap(all.filter((e) => e.id !== 'n5'), policy);
  const r = moveReport(from, to);
  const diff = diffShardMaps(from, to);
  assert.equal(r.movedShards, diff.moves.length);
  const n5 = r.endpoints.find((e) => e.id === 'n5')!;
  assert.equal(n5.change, 'removed');
  assert.equal(n5.lost, n5.owned.before);
  assert.equal(n5.primaryLost, n5.primary.before);
  // Every cold copy is a slot n5 gave up, and the endpoints that gained are exactly the others.
  const gained = r.endpoints.reduce((n, e) => n + (e.gained ?? 0), 0);
  assert.equal(r.cold.counts.copiesCold, gained);
  assert.equal(gained, n5.owned.before);
  assert.equal(r.copyMoves.reduce((n, p) => n + p.shards, 0), n5.owned.before);
  assert.ok(r.copyMoves.every((p) => p.from === 'n5' && p.to !== null && p.to !== 'n5'));
  assert.equal(r.primaryMoves.reduce((n, p) => n + p.shards, 0), r.primaryChangedShards);
  // A key is cold at its primary only if it was led by n5 and its new primary was not its replica.
  const coldByHand = from.owners.filter((o, s) => o[0] === 'n5' && !o.includes(to.owners[s]![0]!)).length;
  assert.equal(r.cold.counts.primaryCold, coldByHand);
  assert.ok(r.cold.primary < r.cold.primaryChanged, 'replicas take over most of the primaries');
});

test('the same map twice moves nothing and nothing goes cold', () => {
  const map = computeShardMap(endpoints(5), { shardCount: 128, replicas: 3, spread: 'zone' });
  const r = moveReport(map, map);
  assert.equal(r.movedShards, 0);
  assert.deepEqual([r.cold.primary, r.cold.primaryChanged, r.cold.copies], [0, 0, 0]);
  assert.ok(r.endpoints.every((e) => e.change === 'unchanged' && e.gained === 0 && e.lost === 0));
});

test('a huge lcm(S, S\') is sampled, and reported as approximate', () => {
  const a = computeShardMap(endpoints(3), { shardCount: 65521, replicas: 1, spread: 'none' });
  const b = computeShardMap(endpoints(3), { shardCount: 65519, replicas: 1, spread: 'none' });
  const c = coldShares(a, b);
  assert.equal(c.approximate, true);
  assert.equal(c.counts.keys, 1 << 22);
  // Every key is rehashed: old and new primary are independent draws with weight shares 1/6, 2/6,
  // 3/6, so the primary stays only with probability sum(p^2) = 14/36.
  assert.ok(Math.abs(c.primaryChanged - 22 / 36) < 0.02, String(c.primaryChanged));
});
