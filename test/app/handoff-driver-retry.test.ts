// The handoff driver's retry (HANDOFF_RETRY_MS): a step whose publish threw is published by the
// retry. The driver keeps the step it computed (its warm reports are taken from the ledger by
// then), so a retry that compares against that step finds nothing new and must still publish it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { pino } from 'pino';
import { HANDOFF_RETRY_MS, HandoffDriver } from '../../src/app/handoff-driver.js';
import { DEFAULT_HANDOFF_SETTINGS } from '../../src/core/handoff.js';
import { computeShardMap } from '../../src/sharding/index.js';
import type { HandoffStep } from '../../src/sharding/handoff.js';
import { ep } from '../sharding/handoff-fixtures.js';

const policy = { shardCount: 64, replicas: 1, spread: 'none' } as const;

/** A driver over five agent nodes that flips at once, publishing and queueing through the given functions. */
function driverOf(publish: (step: HandoffStep) => void, enqueue: (job: () => void) => void): HandoffDriver {
  return new HandoffDriver({
    logger: pino({ level: 'silent' }),
    settings: () => ({ ...DEFAULT_HANDOFF_SETTINGS, flipIntervalMs: 0 }),
    warmers: () => new Set(['a', 'b', 'c', 'd', 'e']),
    publish,
    enqueue: (_what, job) => enqueue(job as () => void),
  });
}

test('a step whose publish threw is published by the retry', async (t) => {
  const four = ['a', 'b', 'c', 'd'].map((id) => ep(id));
  const before = computeShardMap(four, policy);
  const after = computeShardMap([...four, ep('e')], policy);
  let published: HandoffStep | undefined;
  let failNext = false;
  const errors: unknown[] = [];
  const driver = driverOf(
    (step) => {
      if (failNext) {
        failNext = false;
        throw new Error('publish failed once');
      }
      published = step;
    },
    // As the runner's queue: a job that throws is reported, not thrown at the timer.
    (job) => {
      try {
        job();
      } catch (err) {
        errors.push(err);
      }
    },
  );
  t.after(() => driver.close());
  const cause = { source: 'file', reason: 'test', detectedAt: new Date(), computeStartedAt: new Date(), computeSeconds: 0, mode: 'full' } as const;
  driver.plan(before, cause);
  driver.plan(after, cause);
  const gaining = published!.state.transitions.map((x) => x.shard);
  assert.ok(gaining.length > 0);

  failNext = true;
  driver.reportWarm({ node: 'e', shards: gaining });
  await sleep(50);
  assert.equal(errors.length, 1, 'the step threw once');
  assert.equal(published!.state.transitions.length, gaining.length, 'nothing published yet');

  await sleep(HANDOFF_RETRY_MS + 300);
  assert.equal(published!.state.transitions.length, 0, 'the retry published the flip');
  for (const shard of gaining) assert.equal(published!.routed.owners[shard]![0], 'e');
});

test('a plan whose publish threw is not published by a later step: the driver stays on its previous target', async (t) => {
  const four = ['a', 'b', 'c', 'd'].map((id) => ep(id));
  const before = computeShardMap(four, policy);
  const after = computeShardMap([...four, ep('e')], policy);
  const published: HandoffStep[] = [];
  let failNext = false;
  const driver = driverOf(
    (step) => {
      if (failNext) {
        failNext = false;
        throw new Error('publish failed once');
      }
      published.push(step);
    },
    (job) => void job(),
  );
  t.after(() => driver.close());
  const cause = { source: 'file', reason: 'test', detectedAt: new Date(), computeStartedAt: new Date(), computeSeconds: 0, mode: 'full' } as const;
  driver.plan(before, cause);
  failNext = true;
  assert.throws(() => driver.plan(after, cause), /publish failed once/);
  assert.equal(driver.target()?.version, before.version, 'the target in force is the previous one');
  // A later step (a warm report) re-plans on the previous target: the failed map does not go out.
  driver.reportWarm({ node: 'a', shards: [0] });
  await sleep(50);
  for (const step of published) assert.equal(step.state.target.version, before.version);
});
