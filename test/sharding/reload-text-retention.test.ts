// A topology file reloaded many times, one endpoint changed per reload (a pod joins, another
// leaves): each map is one incremental step from the last. The parser hands out endpoint ids and
// localities as substrings of the file's text, and a substring keeps the whole text alive; the
// maps and their lineage's intern table keep ids long after the reload that brought them, so every
// reload's text stayed in memory with them until the table was rebuilt.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseConfig } from '../../src/config/index.js';
import { computeShardMap, planShardMap, type ShardMap } from '../../src/sharding/index.js';
import { heapAfterGc } from '../support/heap.js';

const PADDING = '# ' + 'padding '.repeat(150);
const RELOADS = 240;

/** The topology file listing `names`: some 48 KiB, under the size parsed on the event loop. */
function topologyText(names: readonly string[], spread: string): string {
  const endpoints = names.map((id) => {
    const n = Number(id.split('-').at(-1));
    return [
      `  - id: ${id}`,
      `    address: 10.0.${n >> 8}.${n & 255}`,
      '    port: 7000',
      `    locality: {region: region-north-central, zone: zone-north-central-${n % 3}, subzone: fabric-north-central-${n % 6}}`,
      '    weight: 10',
      `    ${PADDING}`,
    ].join('\n');
  });
  return ['shards: 256', 'replicas: 2', `spread: ${spread}`, 'service: cache', 'endpoints:', ...endpoints].join('\n');
}

// `none` inserts a new owner into a shard's list; the other policies choose the list again.
for (const spread of ['none', 'subzone']) {
  test(`spread ${spread}: ${RELOADS} reloads of a topology file, one endpoint each: the maps do not keep the texts of past reloads`, async () => {
    const names = Array.from({ length: 40 }, (_, i) => `cache-node-rollout-${i}`);
    const first = parseConfig(topologyText(names, spread), 'topology.yaml');
    let map: ShardMap = computeShardMap(first.topology.endpoints, first.topology.policy);
    let next = names.length;
    const reload = (): void => {
      // A rolling update, one step per file write: a new pod joins, then the oldest leaves.
      if (names.length === 40) names.push(`cache-node-rollout-${next++}`);
      else names.shift();
      const text = topologyText(names, spread);
      assert.ok(text.length < 64 * 1024 && text.length > 40 * 1024, `file of ${text.length} bytes`);
      const config = parseConfig(text, 'topology.yaml');
      const step = planShardMap(map, config.topology.endpoints, config.topology.policy);
      assert.equal(step.mode, 'incremental');
      map = step.map;
    };
    for (let i = 0; i < 20; i++) reload();
    const before = await heapAfterGc();
    for (let i = 0; i < RELOADS; i++) reload();
    const grown = (await heapAfterGc()) - before;
    // Held texts: 120 new pods' ids alone would keep 120 files of some 48 KiB, over 5 MiB.
    assert.ok(grown < 2 * 1024 * 1024, `the heap grew by ${(grown / 1048576).toFixed(1)} MiB over ${RELOADS} reloads`);
    // What the map holds beyond what a fresh computation of it holds: the live pods' reload texts.
    const fresh = computeShardMap(map.endpoints, map.policy);
    assert.deepEqual(map, fresh);
    const held = await heapAfterGc();
    map = fresh;
    const extra = held - (await heapAfterGc());
    assert.ok(extra < 1024 * 1024, `the map held ${(extra / 1048576).toFixed(1)} MiB more than the same map computed afresh`);
  });
}
