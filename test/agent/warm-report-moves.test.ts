// A warm report names the move it was warmed for (docs/ownership.md "ReportWarm"): real agents
// against keyway replicas made of the xDS stage and the runner's handoff driver. A report of a
// cancelled warm-up that reaches a replica late (grpc-js holds a call while its channel connects)
// must not complete a later move of the shard to the node before the node warmed it again; and
// replicas that start a move at different moments (each deadline from its own clock) still each
// flip it on the node's report.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { pino } from 'pino';
import { OwnershipAgent, type Assignment } from '../../src/agent/index.js';
import { HandoffDriver } from '../../src/app/handoff-driver.js';
import { ServingState } from '../../src/app/serving-state.js';
import { startXdsStage } from '../../src/app/xds-stage.js';
import { DEFAULT_HANDOFF_SETTINGS, type WarmReport } from '../../src/core/handoff.js';
import type { ShardMap } from '../../src/core/shard-map.js';
import { computeShardMap } from '../../src/sharding/index.js';
import type { HandoffStep } from '../../src/sharding/handoff.js';
import { eventually } from '../support/eventually.js';
import { ep } from '../sharding/handoff-fixtures.js';
import { topologyOf } from '../xds/translator/fixtures.js';

const policy = { shardCount: 16, replicas: 1, spread: 'none' } as const;
const before = computeShardMap([ep('a'), ep('b')], policy);
// e joins: the shards it gains move to it in two phases.
const joined = computeShardMap([ep('a'), ep('b'), ep('e')], policy);
const gained = joined.owners.flatMap((o, shard) => (o[0] === 'e' ? [shard] : []));
const cause = { source: 'file', reason: 'test', detectedAt: new Date(), computeStartedAt: new Date(), computeSeconds: 0, mode: 'full' } as const;

/**
 * One keyway replica: a handoff driver publishing into a serving state that its xDS stage serves.
 * While `hold` is set, warm reports are kept back (in flight) instead of reaching the driver.
 */
async function replica(t: TestContext) {
  const state = new ServingState();
  let last: HandoffStep | undefined;
  const driver = new HandoffDriver({
    logger: pino({ level: 'silent' }),
    settings: () => ({ ...DEFAULT_HANDOFF_SETTINGS, warmTimeoutMs: 60_000, flipIntervalMs: 0 }),
    warmers: () => new Set(['a', 'b', 'e']),
    publish: (step) => {
      last = step;
      state.publish({ map: step.routed, topology: topologyOf(step.routed.endpoints, policy), handoff: step.state });
    },
    enqueue: (_what, job) => job(),
  });
  t.after(() => driver.close());
  driver.plan(before, cause);
  const r = {
    hold: false,
    held: [] as WarmReport[],
    driver,
    last: (): HandoffStep => last!,
    plan: (target: ShardMap) => driver.plan(target, cause),
    port: 0,
  };
  const xds = await startXdsStage({
    state,
    logger: pino({ level: 'silent' }),
    xdsPort: 0,
    host: '127.0.0.1',
    warm: { reportWarm: (report) => (r.hold ? void r.held.push(report) : driver.reportWarm(report)) },
  });
  t.after(() => xds.close());
  r.port = xds.server.port;
  return r;
}

/** Node e's agent: the first warm-up of each shard resolves at once, later ones when released. */
function nodeE(t: TestContext, ports: readonly number[]) {
  const runs = new Map<number, number>();
  const gate: (() => void)[] = [];
  const agent = new OwnershipAgent({
    nodeId: 'e',
    servers: ports.map((p) => `127.0.0.1:${p}`),
    timing: { backoffInitialMs: 20, backoffMaxMs: 200, reportRetryMs: 20 },
    warm: (a: Assignment) => {
      const n = (runs.get(a.shard) ?? 0) + 1;
      runs.set(a.shard, n);
      return n === 1 ? Promise.resolve() : new Promise<void>((resolve) => gate.push(resolve));
    },
  });
  agent.start();
  t.after(() => agent.close());
  const warming = (): number[] => [...agent.assignments().values()].filter((a) => a.phase === 'warming').map((a) => a.shard);
  return { agent, runs, warming, release: () => gate.splice(0).forEach((go) => go()) };
}

const routedTo = (step: HandoffStep, node: string): number[] => gained.filter((s) => step.routed.owners[s]?.[0] === node);

test('a warm report of a cancelled warm-up that arrives after the move to the node started again does not flip it', async (t) => {
  assert.ok(gained.length > 0, 'e gains shards');
  const k = await replica(t);
  const e = nodeE(t, [k.port]);
  await eventually('e connected', () => e.agent.connected());

  // The move to e; its report is sent and stays in flight.
  k.hold = true;
  k.plan(joined);
  const heldShards = (): Set<number> => new Set(k.held.flatMap((r) => [...r.shards, ...(r.moves ?? []).map((m) => m.shard)]));
  await eventually('the report of the first warm-up is in flight', () => heldShards().size, { accept: (n) => n === gained.length });
  // The move is cancelled (e leaves), then starts again (e is back) before that report lands.
  k.plan(before);
  await eventually('e dropped the warm-ups', () => e.agent.assignments().size, { accept: (n) => n === 0 });
  await sleep(5);
  k.plan(joined);
  await eventually('e warms again', () => e.warming().length, { accept: (n) => n === gained.length });
  await eventually('the second warm-ups run', () => [...e.runs.values()].filter((n) => n === 2).length, { accept: (n) => n === gained.length });

  // The first warm-up's report lands now: e's cache dropped those warm-ups, so nothing may flip.
  k.hold = false;
  for (const report of k.held) k.driver.reportWarm(report);
  await sleep(100);
  assert.deepEqual(routedTo(k.last(), 'e'), [], 'no shard is routed to e before it warmed it again');
  assert.deepEqual(k.last().state.transitions.map((x) => x.shard), gained, 'every move still waits for e');
  const named = k.held.reduce((n, r) => n + (r.moves?.length ?? 0), 0);
  assert.ok(named >= gained.length, 'the late report names its move');
  assert.equal(k.driver.staleWarmReports, named, 'and was counted as naming no move under way');

  // The second warm-ups finish: their reports flip the moves.
  e.release();
  await eventually('the moves flipped on the new report', () => routedTo(k.last(), 'e').length, { accept: (n) => n === gained.length });
  assert.deepEqual(k.last().state.completed.map((c) => c.outcome).filter((o) => o !== 'warm'), []);
});

test('replicas that start a move apart each flip it on the report that names their own deadline, a late one included', async (t) => {
  const [k1, k2] = [await replica(t), await replica(t)];
  const e = nodeE(t, [k1.port, k2.port]);
  await eventually('e connected to both', () => e.agent.connected());
  const outcomes = (k: typeof k1): string[] => k.last().state.completed.map((c) => c.outcome);

  k1.plan(joined);
  const d1 = k1.last().state.transitions[0]!.deadline;
  await sleep(30);
  k2.plan(joined);
  const d2 = k2.last().state.transitions[0]?.deadline;
  assert.ok(d2 !== undefined && d2 > d1, "each replica takes the move's deadline from its own moment");
  await eventually('both flipped', () => [routedTo(k1.last(), 'e').length, routedTo(k2.last(), 'e').length], { accept: ([x, y]) => x === gained.length && y === gained.length });
  assert.deepEqual([...new Set(outcomes(k1))], ['warm']);
  assert.deepEqual([...new Set(outcomes(k2))], ['warm']);

  // A replica that starts the move only after the node's assignments (from the first replica) say
  // it serves the shards is told too, and flips on it, not at its deadline 60 s later.
  const k3 = await replica(t);
  const late = new OwnershipAgent({ nodeId: 'e', servers: [`127.0.0.1:${k1.port}`, `127.0.0.1:${k3.port}`], timing: { backoffInitialMs: 20, backoffMaxMs: 200, reportRetryMs: 20 }, warm: async () => {} });
  late.start();
  t.after(() => late.close());
  await eventually('the late agent reads the shards through the first replica', () => [...late.assignments().values()].filter((a) => a.phase === 'serving' && a.reader && gained.includes(a.shard)).length, {
    accept: (n) => n === gained.length,
  });
  k3.plan(joined);
  await eventually('the late replica flipped on the report', () => routedTo(k3.last(), 'e').length, { accept: (n) => n === gained.length });
  assert.deepEqual([...new Set(outcomes(k3))], ['warm']);
  assert.equal(k1.driver.staleWarmReports + k2.driver.staleWarmReports + k3.driver.staleWarmReports, 0);
});
