/**
 * The telemetry stage's hot-shard counters: each decided window's deferred moves count once, even
 * when a new plain map mid-window re-decides the same window (a new decision object that defers
 * the same moves).
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import { metricsStage } from '../../src/app/index.js';
import type { HotShardDecision } from '../../src/core/load.js';
import type { ServingReader, ServingView, ViewListener } from '../../src/core/serving.js';
import type { StageContext } from '../../src/core/stage.js';
import { createKeywayMetrics, KEYWAY_METRICS as N } from '../../src/telemetry/index.js';
import { parseExposition } from './support/exposition.js';

function decision(windowStartMs: number, deferred: number): HotShardDecision {
  return { windowStartMs, shards: [], deferred } as unknown as HotShardDecision;
}

function view(version: string, hotShards: HotShardDecision): ServingView {
  return { sequence: 0, map: { version, policy: { shardCount: 4 }, owners: [], endpoints: [] }, hotShards, updatedAt: new Date() } as unknown as ServingView;
}

/** The telemetry stage over a reader whose views the test plays: `listener(view, previous)` publishes one. */
async function startedStage(t: TestContext): Promise<{ metrics: ReturnType<typeof createKeywayMetrics>; listener: ViewListener }> {
  const metrics = createKeywayMetrics();
  let listener: ViewListener | undefined;
  const state = {
    current: () => undefined,
    onShardMap: (l: ViewListener) => ((listener = l), () => (listener = undefined)),
    onSourceError: () => () => {},
    sources: () => [],
    pipelineError: () => undefined,
  } as unknown as ServingReader;
  const started = await metricsStage(metrics).start({ state, logger: pino({ level: 'silent' }) } as unknown as StageContext);
  t.after(async () => {
    await started.close();
    await metrics.shutdown();
  });
  return { metrics, listener: (view, previous) => listener!(view, previous) };
}

test('deferred moves count once per decided window (the most any of its decisions deferred), not once per decision object', async (t) => {
  const { metrics, listener } = await startedStage(t);
  const v0 = view('m0', decision(10_000, 0));
  listener(v0, undefined);
  // The same window re-decided (a new plain map) defers 3: counted.
  const v1 = view('m1', decision(10_000, 3));
  listener(v1, v0);
  // A new plain map in the same window: the policy re-decides window 10 000 and defers the same 3.
  const v2 = view('m2', decision(10_000, 3));
  listener(v2, v1);
  // The next window defers 2 more.
  listener(view('m3', decision(20_000, 2)), v2);
  const exp = parseExposition(await metrics.render());
  assert.equal(exp.value(N.hotShardMovesDeferred), 5);
});

test('the policy turned off by a reload: the shards it gives back count as moves', async (t) => {
  const { metrics, listener } = await startedStage(t);
  const spread = (shard: number) => ({ shard, load: 100, owners: ['a', 'b'], readers: 2, reason: 'spread', explanation: '' });
  const hot = { windowStartMs: 10_000, shards: [spread(1), spread(2), spread(3)], moves: 3, deferred: 0 } as unknown as HotShardDecision;
  const v0 = view('m0', hot);
  listener(v0, undefined);
  // hotShards.enabled: false: the next view has no decision at all.
  const v1 = { ...view('m1', hot), hotShards: undefined } as unknown as ServingView;
  listener(v1, v0);
  const exp = parseExposition(await metrics.render());
  assert.equal(exp.value(N.hotShardMoves), 6, 'three taken up, three given back');
});
