/**
 * What one handoff step costs keyway's main thread while a large scale-out warms up
 * (docs/ownership.md "Two-phase moves", "Flip ticks"):
 * `node --import tsx benchmarks/hitrate/handoff-step-time.ts [--shards 65536] [--replicas 1] [--from 1600] [--to 2000]`.
 *
 * The plain map goes from `--from` to `--to` endpoints; every moved shard becomes a transition,
 * and over 8 ticks an eighth of them reports warm each (so drains pile up as transitions end).
 * Prints each tick's step in milliseconds, with the transitions and drains it leaves.
 */
import { parseArgs } from 'node:util';
import { DEFAULT_HANDOFF_SETTINGS } from '../../src/core/handoff.js';
import { computeShardMap } from '../../src/sharding/index.js';
import { stepHandoff } from '../../src/sharding/handoff.js';
import { WarmLedger } from '../../src/sharding/warm-ledger.js';
import { cacheNodes } from '../../test/sharding/hot-shards-fixtures.js';

const { values } = parseArgs({
  options: { shards: { type: 'string', default: '65536' }, replicas: { type: 'string', default: '1' }, from: { type: 'string', default: '1600' }, to: { type: 'string', default: '2000' } },
});
const policy = { shardCount: Number(values.shards), replicas: Number(values.replicas), spread: 'none' as const };
const all = cacheNodes(Number(values.to));
const before = computeShardMap(all.slice(0, Number(values.from)), policy);
const after = computeShardMap(all, policy);
const warm = new WarmLedger();
const base = { warm, warmers: new Set(all.map((e) => e.id)), agentsExpected: true, settings: DEFAULT_HANDOFF_SETTINGS };
let now = 1_000_000;
let step = stepHandoff({ ...base, previous: undefined, target: before, now });
now += 1000;
let t = performance.now();
step = stepHandoff({ ...base, previous: step, target: after, now });
console.log(`start: ${(performance.now() - t).toFixed(1)} ms, ${step.state.transitions.length} transitions`);
const transitions = [...step.state.transitions];
for (let k = 0; k < 8; k++) {
  now += 1000;
  const chunk = transitions.slice(Math.floor((k * transitions.length) / 8), Math.floor(((k + 1) * transitions.length) / 8));
  const byNode = new Map<string, number[]>();
  for (const tr of chunk) byNode.set(tr.warming, [...(byNode.get(tr.warming) ?? []), tr.shard]);
  for (const [node, shards] of byNode) warm.record(node, shards, now);
  t = performance.now();
  step = stepHandoff({ ...base, previous: step, target: after, now });
  console.log(`tick ${k}: ${(performance.now() - t).toFixed(1)} ms, ${step.state.transitions.length} transitions, ${step.state.drains.length} drains`);
}
