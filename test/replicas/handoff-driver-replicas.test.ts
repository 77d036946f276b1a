// Two replicas' handoff drivers fed the same maps and warm reports (docs/ownership.md "Replicas
// agree"): a replica whose publish of a new map failed must still flip the moves it holds on the
// warm reports it heard, at the same tick as a replica whose publish went through, not at their
// deadline.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { pino } from 'pino';
import { HandoffDriver } from '../../src/app/handoff-driver.js';
import { DEFAULT_HANDOFF_SETTINGS } from '../../src/core/handoff.js';
import { computeShardMap } from '../../src/sharding/index.js';
import type { HandoffStep } from '../../src/sharding/handoff.js';
import { ep } from '../sharding/handoff-fixtures.js';

const policy = { shardCount: 64, replicas: 1, spread: 'none' } as const;
const cause = { source: 'file', reason: 'test', detectedAt: new Date(), computeStartedAt: new Date(), computeSeconds: 0, mode: 'full' } as const;

/** One replica's driver over five agent nodes, flipping on ticks of 200 ms; `fail()` makes the next publish throw. */
function replica() {
  let failNext = false;
  let published: HandoffStep | undefined;
  const driver = new HandoffDriver({
    logger: pino({ level: 'silent' }),
    settings: () => ({ ...DEFAULT_HANDOFF_SETTINGS, flipIntervalMs: 200 }),
    warmers: () => new Set(['a', 'b', 'c', 'd', 'e']),
    publish: (step) => {
      if (failNext) {
        failNext = false;
        throw new Error('publish failed once');
      }
      published = step;
    },
    enqueue: (_what, job) => void job(),
  });
  return { driver, published: () => published!, fail: () => void (failNext = true) };
}

test('a replica whose publish of a new map failed still flips on the warm reports it heard, with the other replica', async (t) => {
  const four = ['a', 'b', 'c', 'd'].map((id) => ep(id));
  const before = computeShardMap(four, policy);
  const after = computeShardMap([...four, ep('e')], policy);
  // A change that moves no shard (a's address): the moves to e go on under it.
  const readdressed = computeShardMap([ep('a', { address: '10.0.0.9' }), ...four.slice(1), ep('e')], policy);
  const [ra, rb] = [replica(), replica()];
  t.after(() => [ra, rb].forEach((r) => r.driver.close()));
  for (const r of [ra, rb]) {
    r.driver.plan(before, cause);
    r.driver.plan(after, cause);
  }
  const moving = ra.published().state.transitions.map((x) => x.shard);
  assert.ok(moving.length > 1);
  // e reports all but one shard warm (old form): applied at the next tick on both replicas.
  const warm = moving.slice(1);
  for (const r of [ra, rb]) r.driver.reportWarm({ node: 'e', shards: warm });
  // Before the tick a new map arrives; replica A fails to publish it and stays on `after`.
  ra.fail();
  assert.throws(() => ra.driver.plan(readdressed, cause), /publish failed once/);
  rb.driver.plan(readdressed, cause);
  await sleep(400);
  for (const [name, r] of [['A', ra], ['B', rb]] as const) {
    const step = r.published();
    assert.deepEqual(step.state.transitions.map((x) => x.shard), [moving[0]], `replica ${name}: only the unreported move still waits`);
    for (const shard of warm) assert.equal(step.routed.owners[shard]![0], 'e', `replica ${name}: shard ${shard} flipped on its report`);
  }
});
