// The xDS stage serves a map change that moves every shard in slices (docs/ownership.md "Cost"):
// the snapshots of every agent are built ahead in slices that yield to the event loop, so a
// callback queued right after the change was published runs before the change is served (before
// the sliced build, the whole change was built in the push's one turn: it ran after). Nothing is
// served half-built: at every turn every agent holds the old map's assignments or every agent the
// new map's; and what is served is what the translator gives for the new map.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import { ServingState } from '../../../src/app/serving-state.js';
import { startXdsStage } from '../../../src/app/xds-stage.js';
import type { ShardMap } from '../../../src/core/shard-map.js';
import { buildSnapshot, ResourceEncoder } from '../../../src/xds/cache/index.js';
import { checkConsistency, translate } from '../../../src/xds/translator/index.js';
import { shiftedFleet } from './shifted-fleet.js';

const NODES = 32;
const SHARDS = 2048;
const { topology, agents, mapOf } = shiftedFleet(NODES, SHARDS, '10.0.2');

test('a change that moves every shard is built in slices that yield, then served to every agent in one turn, as the translator gives it', async () => {
  const state = new ServingState();
  const publish = (map: ShardMap) => state.publish({ map, topology });
  publish(mapOf(0));
  const stage = await startXdsStage({ state, logger: pino({ level: 'silent' }), xdsPort: 0, host: '127.0.0.1' }, { rebuildSliceMs: 0 });
  try {
    const told: number[] = agents.map(() => 0);
    agents.forEach((c, i) => stage.cache.watch(c, 'assignment', () => told[i]!++));
    const versions = () => agents.map((c) => stage.cache.snapshot(c)!.version);
    const old = versions();

    const next = mapOf(1);
    // What the translator gives each agent for the new map, snapshotted apart.
    const expected = agents.map((c) => buildSnapshot(c, translate({ shardMap: next, topology }, c), new ResourceEncoder(), checkConsistency).version);
    assert.ok(expected.every((v, i) => v !== old[i]), 'the premise: every agent is told something new');

    publish(next);
    let ranBeforeServed: boolean | undefined;
    setImmediate(() => (ranBeforeServed = versions().every((v, i) => v === old[i])));
    let turns = 0;
    for (; turns < 10_000; turns++) {
      await new Promise((r) => setImmediate(r));
      const now = versions();
      const served = now.filter((v, i) => v !== old[i]).length;
      assert.ok(served === 0 || served === NODES, `turn ${turns}: ${served} of ${NODES} agents served the new map`);
      if (served === NODES) break;
    }
    assert.equal(ranBeforeServed, true, 'a callback queued after the change was published ran before the change was served');
    assert.ok(turns > NODES / 2, `the build took ${turns} turns of the event loop`);
    assert.deepEqual(versions(), expected, 'every agent is served what the translator gives');
    // Every watcher is told of the change, once.
    for (let i = 0; i < 1000 && told.some((n) => n < 1); i++) await new Promise((r) => setImmediate(r));
    assert.deepEqual(told, agents.map(() => 1), 'each agent told of the change once');
  } finally {
    await stage.close();
  }
});
