/**
 * `keyway diff` between files of different S averages the cold shares over up to 4194304 hash
 * residues; it numbers the owners and marks each residue's old ones instead of scanning lists (the
 * scans took half a minute at the work budget's edge). These counts pin it to the definition.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { coldShares } from '../../../src/cli/commands/move-report.js';
import type { ShardMap } from '../../../src/sharding/index.js';

/** A map of `shardCount` shards, each with `replicas` distinct owners drawn from `ids` by a fixed generator. */
function syntheticMap(shardCount: number, replicas: number, ids: readonly string[], seed: number): ShardMap {
  let x = seed >>> 0;
  const next = (): number => (x = (Math.imul(x, 1664525) + 1013904223) >>> 0);
  const owners = Array.from({ length: shardCount }, () => {
    const picked = new Set<string>();
    while (picked.size < replicas) picked.add(ids[next() % ids.length]!);
    return [...picked];
  });
  return {
    version: `synthetic-${seed}`,
    policy: { shardCount, replicas, spread: 'none' },
    endpoints: ids.map((id) => ({ id, address: '10.0.0.1', port: 1, locality: { region: 'r', zone: 'z', subzone: 's' }, weight: 1, ready: true })),
    owners,
    warnings: [],
  };
}

/** The definition of docs/cli.md "Cold data", residue by residue, written plainly. */
function coldByDefinition(from: ShardMap, to: ShardMap): { primaryCold: number; primaryChanged: number; copySlots: number; copiesCold: number } {
  const S1 = from.policy.shardCount;
  const S2 = to.policy.shardCount;
  let L = S1;
  while (L % S2 !== 0) L += S1;
  const counts = { primaryCold: 0, primaryChanged: 0, copySlots: 0, copiesCold: 0 };
  for (let r = 0; r < L; r++) {
    const a = from.owners[r % S1]!;
    const b = to.owners[r % S2]!;
    if (b[0] === undefined || !a.includes(b[0])) counts.primaryCold++;
    if (b[0] !== a[0]) counts.primaryChanged++;
    counts.copySlots += b.length;
    counts.copiesCold += b.filter((id) => !a.includes(id)).length;
  }
  return counts;
}

const ids = (n: number): string[] => Array.from({ length: n }, (_, i) => `gpu-${i}`);

test('the cold counts are those of the definition, residue by residue (shards without owners included)', () => {
  const from = syntheticMap(97, 5, ids(40), 1);
  const to = syntheticMap(89, 7, ids(45), 2);
  (to.owners as string[][])[3] = [];
  (from.owners as string[][])[5] = [];
  const c = coldShares(from, to);
  assert.equal(c.approximate, false);
  const { primaryCold, primaryChanged, copySlots, copiesCold } = c.counts;
  assert.deepEqual({ primaryCold, primaryChanged, copySlots, copiesCold }, coldByDefinition(from, to));
});
