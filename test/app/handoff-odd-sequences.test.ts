// Warm handoff under odd but possible sequences (docs/ownership.md "Two-phase moves", "ReportWarm"):
// reports for shards never given, for cancelled or older moves, twice, after the node's stream
// closed; a node back at another address; a chain A -> B -> C whose B never warms; a thousand
// reports in reverse order. Each case is driven through the real HandoffDriver and planner with a
// manual clock and mocked timers (no sleeps), and each step published is checked against the
// contract: every shard the target gives an owner has a routed owner that can serve, nothing
// waits past its deadline, a move flips `warm` only on a report of it, and once the moves settle
// the routed map is the target and the ledger of warm reports is empty (reports no move took are
// forgotten after warmTimeoutMs, also when nothing else happens). A seeded random walk mixes the
// same events. A join's reports one shard at a time cost each move one ledger look-up per step.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import { EXPIRY_MIN_GAP_MS, HandoffDriver } from '../../src/app/handoff-driver.js';
import { DEFAULT_HANDOFF_SETTINGS, type HandoffSettings, type WarmReport } from '../../src/core/handoff.js';
import type { Endpoint } from '../../src/core/endpoint.js';
import type { ShardMap } from '../../src/core/shard-map.js';
import { computeShardMap } from '../../src/sharding/index.js';
import type { HandoffStep } from '../../src/sharding/handoff.js';
import { WarmLedger } from '../../src/sharding/warm-ledger.js';
import { fuzzBudget, Rng } from '../support/seeded-random.js';
import { ep } from '../sharding/handoff-fixtures.js';

const cause = { source: 'file', reason: 'test', detectedAt: new Date(0), computeStartedAt: new Date(0), computeSeconds: 0, mode: 'full' } as const;
/** An epoch time on a flip tick, so ticks fall at whole seconds from the start. */
const T0 = 1_800_000_000_000;

interface Rig {
  readonly driver: HandoffDriver;
  readonly published: HandoffStep[];
  readonly streams: Set<string>;
  readonly settings: HandoffSettings;
  now(): number;
  /** Moves the clock and the mocked timers by `ms`, in steps of at most 10 ms. */
  advance(ms: number): void;
  plan(map: ShardMap): HandoffStep;
  last(): HandoffStep;
  report(r: WarmReport): readonly number[];
}

function rig(t: TestContext, over: Partial<HandoffSettings> = {}, streams = new Set<string>()): Rig {
  t.mock.timers.enable({ apis: ['setTimeout'] });
  let now = T0;
  const settings = { ...DEFAULT_HANDOFF_SETTINGS, ...over };
  const published: HandoffStep[] = [];
  const reports: Heard[] = [];
  const deadlines = new Map<string, Set<number>>();
  const driver = new HandoffDriver({
    logger: pino({ level: 'silent' }),
    settings: () => settings,
    warmers: () => streams,
    publish: (step) => {
      checkStep(step, now, settings);
      checkWarm(step, now, settings, reports, deadlines);
      published.push(step);
    },
    enqueue: (_what, job) => job(),
    clock: { wall: () => now, mono: () => now },
  });
  t.after(() => driver.close());
  const r: Rig = {
    driver,
    published,
    streams,
    settings,
    now: () => now,
    advance(ms) {
      // In small steps: the driver reads the clock in its timers' callbacks.
      for (let left = ms; left > 0; ) {
        const d = Math.min(left, 10);
        now += d;
        left -= d;
        t.mock.timers.tick(d);
      }
    },
    plan(map) {
      driver.plan(map, cause);
      return r.last();
    },
    last: () => published.at(-1)!,
    report: (rep) => {
      for (const shard of rep.shards) reports.push({ node: rep.node, shard, at: now });
      for (const m of rep.moves ?? []) reports.push({ node: rep.node, shard: m.shard, at: now, until: m.untilUnixMs });
      return driver.reportWarm(rep).stale;
    },
  };
  return r;
}

/** The contract every published step keeps (docs/ownership.md "Two-phase moves"). */
function checkStep(step: HandoffStep, now: number, settings: HandoffSettings): void {
  const { target, transitions } = step.state;
  const byId = new Map<string, Endpoint>(target.endpoints.map((e) => [e.id, e]));
  const serves = (id: string): boolean => {
    const e = byId.get(id);
    return e !== undefined && (e.ready || e.draining === true);
  };
  target.owners.forEach((to, shard) => {
    const routed = step.routed.owners[shard] ?? [];
    if (to.length > 0) assert.ok(routed.length > 0, `shard ${shard} has no routed owner`);
    for (const id of routed) assert.ok(serves(id), `shard ${shard} routed to ${id}, which cannot serve`);
  });
  for (const m of transitions) {
    assert.ok(serves(m.warming) && byId.get(m.warming)!.ready, `shard ${m.shard} warms on ${m.warming}, gone`);
    assert.ok(m.deadline > now, `shard ${m.shard} held past its deadline`);
    assert.ok(m.deadline - m.startedAt <= settings.warmTimeoutMs, `shard ${m.shard}: deadline beyond warmTimeoutMs`);
    assert.equal(m.warming, target.owners[m.shard]![0], `shard ${m.shard} warms on a node that is not its target primary`);
  }
}

interface Heard {
  readonly node: string;
  readonly shard: number;
  readonly at: number;
  readonly until?: number;
}

/** A move flips `warm` only on a report of its node and shard that names it (or names no move). */
function checkWarm(step: HandoffStep, now: number, settings: HandoffSettings, reports: readonly Heard[], deadlines: Map<string, Set<number>>): void {
  const key = (shard: number, node: string, startedAt: number): string => `${shard}/${node}/${startedAt}`;
  for (const m of step.state.transitions) {
    const k = key(m.shard, m.warming, m.startedAt);
    deadlines.set(k, (deadlines.get(k) ?? new Set()).add(m.deadline));
  }
  for (const c of step.state.completed) {
    if (c.outcome !== 'warm') continue;
    const startedAt = now - Math.round(c.seconds * 1000);
    const named = deadlines.get(key(c.shard, c.warming, startedAt)) ?? new Set();
    const ok = reports.some((r) => r.node === c.warming && r.shard === c.shard && r.at >= startedAt - settings.warmTimeoutMs && (r.until === undefined || named.has(r.until)));
    assert.ok(ok, `shard ${c.shard} flipped warm to ${c.warming} with no report of that move`);
  }
}

/** After every move settled: the routed map is the target, and no warm report is held. */
function assertSettled(r: Rig): void {
  r.advance(r.settings.warmTimeoutMs + r.settings.drainMs + 2 * r.settings.flipIntervalMs + EXPIRY_MIN_GAP_MS + 10);
  const step = r.last();
  assert.deepEqual(step.state.transitions, [], 'no shard left moving');
  assert.deepEqual(step.state.drains, [], 'no drain left');
  assert.deepEqual(step.routed.owners, step.state.target.owners, 'routed as the target');
  assert.equal(r.driver.heldWarmReports, 0, 'the ledger forgot what settled');
}

const policy = { shardCount: 64, replicas: 2, spread: 'none' } as const;
const ids = ['a', 'b', 'c', 'd'];
const four = computeShardMap(ids.map((id) => ep(id)), policy);
const five = computeShardMap([...ids, 'e'].map((id) => ep(id)), policy);
const gainedByE = five.owners.flatMap((o, shard) => (o[0] === 'e' ? [shard] : []));
const notE = five.owners.findIndex((o) => !o.includes('e'));

/** Four nodes, then e joins with its stream open: its moves are under way. */
function joined(t: TestContext, over: Partial<HandoffSettings> = {}): Rig {
  const r = rig(t, over, new Set([...ids, 'e']));
  r.plan(four);
  const step = r.plan(five);
  assert.deepEqual(step.state.transitions.map((m) => m.shard), gainedByE);
  return r;
}

const moveOf = (r: Rig, shard: number) => r.last().state.transitions.find((m) => m.shard === shard);

test('a report of a shard the node was never given changes nothing, and does not complete a later move', (t) => {
  const r = joined(t);
  const publishes = r.published.length;
  assert.deepEqual(r.report({ node: 'e', shards: [], moves: [{ shard: notE, untilUnixMs: moveOf(r, gainedByE[0]!)!.deadline }] }), [notE]);
  r.report({ node: 'a', shards: [gainedByE[0]!] });
  r.advance(1000);
  assert.equal(r.published.length, publishes, 'nothing published');
  assert.deepEqual(r.last().state.transitions.map((m) => m.shard), gainedByE);
  assertSettled(r);
});

test('a report naming a move since cancelled (the node left and came back) is ignored; the new move waits for its own', (t) => {
  const r = joined(t);
  const shard = gainedByE[0]!;
  const first = moveOf(r, shard)!;
  r.advance(500);
  r.plan(four);
  assert.equal(r.last().state.completed.find((c) => c.shard === shard)?.outcome, 'cancelled');
  r.advance(500);
  r.plan(five);
  const again = moveOf(r, shard)!;
  assert.notEqual(again.deadline, first.deadline);
  assert.deepEqual(r.report({ node: 'e', shards: [], moves: [{ shard, untilUnixMs: first.deadline }] }), [shard]);
  r.advance(2000);
  assert.ok(moveOf(r, shard), 'still warming: the report named the cancelled move');
  assert.deepEqual(r.report({ node: 'e', shards: [], moves: [{ shard, untilUnixMs: again.deadline }] }), []);
  r.advance(1000);
  assert.equal(moveOf(r, shard), undefined);
  assertSettled(r);
});

test('a report naming a move whose weight went back (cancelled) changes nothing', (t) => {
  const r = rig(t, {}, new Set(ids));
  r.plan(four);
  const heavier = computeShardMap(ids.map((id) => ep(id, id === 'd' ? { weight: 3 } : {})), policy);
  const step = r.plan(heavier);
  const m = step.state.transitions[0]!;
  assert.equal(m.warming, 'd');
  r.plan(four);
  assert.deepEqual(r.last().state.transitions, []);
  const publishes = r.published.length;
  assert.deepEqual(r.report({ node: 'd', shards: [], moves: [{ shard: m.shard, untilUnixMs: m.deadline }] }), [m.shard]);
  r.advance(2000);
  assert.equal(r.published.length, publishes);
  assertSettled(r);
});

test('the same report twice: the second, after the flip, is ignored and held nowhere', (t) => {
  const r = joined(t);
  const shard = gainedByE[0]!;
  const m = moveOf(r, shard)!;
  const rep = { node: 'e', shards: [], moves: [{ shard, untilUnixMs: m.deadline }] };
  assert.deepEqual(r.report(rep), []);
  assert.deepEqual(r.report(rep), [], 'before the tick: still the move under way');
  r.advance(1000);
  assert.equal(moveOf(r, shard), undefined);
  assert.equal(r.last().state.completed.find((c) => c.shard === shard)?.outcome, 'warm');
  assert.deepEqual(r.report(rep), [shard], 'after the flip: no move of that name');
  assert.equal(r.driver.heldWarmReports, 0);
  assertSettled(r);
});

test('a stream closing while a second one for the node id stays open does not lose its moves', (t) => {
  const r = joined(t, { agentWaitMs: 300 });
  r.advance(2000);
  // The old stream's close raced a reconnect: the node still has a stream (it is among the warmers).
  r.driver.ownershipStreamClosed('e');
  assert.deepEqual(r.last().state.transitions.map((m) => m.shard), gainedByE, 'still warming');
  const m = moveOf(r, gainedByE[0]!)!;
  r.report({ node: 'e', shards: [], moves: [{ shard: m.shard, untilUnixMs: m.deadline }] });
  r.advance(1000);
  assert.equal(r.last().state.completed.find((c) => c.shard === m.shard)?.outcome, 'warm');
  assertSettled(r);
});

test('a node that reports warm and leaves before the flip tick is not flipped to', (t) => {
  const r = joined(t);
  r.report({ node: 'e', shards: [], moves: gainedByE.slice(0, 2).map((shard) => ({ shard, untilUnixMs: moveOf(r, shard)!.deadline })) });
  // Its stream closes and the endpoint source drops it before the tick.
  r.streams.delete('e');
  r.plan(four);
  assert.deepEqual(r.last().state.transitions, []);
  r.advance(1000);
  for (const owners of r.last().routed.owners) assert.ok(!owners.includes('e'));
  // It comes back: its moves start again and wait for new reports.
  r.streams.add('e');
  r.advance(5000);
  r.plan(five);
  r.advance(1000);
  assert.deepEqual(r.last().state.transitions.map((m) => m.shard), gainedByE, 'the old reports completed nothing');
  assertSettled(r);
});

test('a node whose stream closes mid-handoff and comes back at another address keeps its moves', (t) => {
  const r = joined(t, { agentWaitMs: 300 });
  const first = moveOf(r, gainedByE[0]!)!;
  r.advance(100);
  r.streams.delete('e');
  r.driver.ownershipStreamClosed('e');
  // Within agentWaitMs from the start: the moves still wait.
  assert.deepEqual(r.last().state.transitions.map((m) => m.shard), gainedByE);
  const moved = computeShardMap([...ids.map((id) => ep(id)), ep('e', { address: '10.0.0.99' })], policy);
  r.plan(moved);
  r.streams.add('e');
  r.driver.ownershipStreamOpened('e');
  const m = moveOf(r, first.shard)!;
  assert.equal(m.startedAt, first.startedAt, 'the same move');
  assert.equal(r.last().routed.endpoints.find((e) => e.id === 'e')?.address, '10.0.0.99');
  r.report({ node: 'e', shards: [], moves: gainedByE.map((shard) => ({ shard, untilUnixMs: moveOf(r, shard)!.deadline })) });
  r.advance(1);
  assert.deepEqual(r.last().state.transitions, []);
  assert.ok(r.last().state.completed.every((c) => c.outcome === 'warm'));
  assertSettled(r);
});

test('a chain A -> B -> C where B never warms: C warms from A and B is never routed the shard', (t) => {
  const r = rig(t, {}, new Set(['a', 'b', 'c', 'd', 'e', 'f']));
  const single = { shardCount: 64, replicas: 1, spread: 'none' } as const;
  const weights = (w: Record<string, number>): ShardMap => computeShardMap(['a', 'b', 'c', 'd', 'e', 'f'].map((id) => ep(id, { weight: w[id] ?? 1 })), single);
  const base = weights({});
  r.plan(base);
  // B: d gains weight; C: f gains more, so some shard moves a -> d, then -> f.
  const toB = weights({ d: 4 });
  const toC = weights({ d: 4, f: 40 });
  const shard = base.owners.findIndex((o, s) => o[0] !== toB.owners[s]![0] && toB.owners[s]![0] === 'd' && toC.owners[s]![0] === 'f');
  assert.ok(shard >= 0, 'a shard moves a -> d -> f');
  const a = base.owners[shard]![0]!;
  r.plan(toB);
  r.advance(3000);
  r.plan(toC);
  const m = moveOf(r, shard)!;
  assert.equal(m.warming, 'f');
  assert.deepEqual(m.from, base.owners[shard]);
  assert.equal(r.last().state.completed.find((c) => c.shard === shard)?.outcome, 'cancelled');
  // d's late report of its warm-up changes nothing.
  r.report({ node: 'd', shards: [shard] });
  r.advance(1000);
  assert.equal(moveOf(r, shard)?.warming, 'f');
  r.report({ node: 'f', shards: [], moves: [{ shard, untilUnixMs: m.deadline }] });
  r.advance(1000);
  assert.deepEqual(r.last().routed.owners[shard], ['f']);
  assert.ok(r.last().state.drains.some((d) => d.shard === shard && d.node === a));
  for (const step of r.published) assert.ok(!(step.routed.owners[shard] ?? []).includes('d'), 'd never routed the shard');
  assertSettled(r);
});

/** A fourth node joining three at S = 8192 (over 1000 moves to `d`), planned on a fresh rig. */
function bigJoin(t: TestContext): { r: ReturnType<typeof rig>; moves: HandoffStep['state']['transitions'] } {
  const big = { shardCount: 8192, replicas: 1, spread: 'none' } as const;
  const three = computeShardMap(['a', 'b', 'c'].map((id) => ep(id)), big);
  const withD = computeShardMap(['a', 'b', 'c', 'd'].map((id) => ep(id)), big);
  const r = rig(t, {}, new Set(['a', 'b', 'c', 'd']));
  r.plan(three);
  return { r, moves: r.plan(withD).state.transitions };
}

test('a thousand moves reported one shard at a time in reverse order flip on a few ticks, and the ledger empties', (t) => {
  const { r, moves } = bigJoin(t);
  assert.ok(moves.length >= 1000, `${moves.length} moves`);
  const publishes = r.published.length;
  for (const m of [...moves].reverse()) {
    assert.deepEqual(r.report({ node: 'd', shards: [], moves: [{ shard: m.shard, untilUnixMs: m.deadline }] }), []);
    r.advance(1);
  }
  r.advance(1000);
  assert.deepEqual(r.last().state.transitions, []);
  assert.ok(r.last().state.completed.every((c) => c.outcome === 'warm'));
  assert.ok(r.published.length - publishes <= 3, `${r.published.length - publishes} publishes`);
  assertSettled(r);
});

test('reports of shards no move will use are forgotten after warmTimeoutMs, even with nothing else under way', (t) => {
  const r = rig(t, {}, new Set(ids));
  r.plan(four);
  r.report({ node: 'a', shards: [1, 2, 3] });
  r.report({ node: 'not-listed', shards: [4, 5] });
  assert.equal(r.driver.heldWarmReports, 5);
  r.advance(r.settings.warmTimeoutMs + r.settings.flipIntervalMs + EXPIRY_MIN_GAP_MS + 1);
  assert.equal(r.driver.heldWarmReports, 0);
});

test('a large join reported one shard at a time, in order, checks each move once per step, not once per report', (t) => {
  const { r, moves } = bigJoin(t);
  const has = t.mock.method(WarmLedger.prototype, 'has');
  // All within one flip tick: whether each report completes every move is asked each time.
  for (const m of moves) r.report({ node: 'd', shards: [], moves: [{ shard: m.shard, untilUnixMs: m.deadline }] });
  assert.ok(has.mock.callCount() <= 2 * moves.length, `${has.mock.callCount()} look-ups for ${moves.length} reports`);
  r.advance(1);
  assert.deepEqual(r.last().state.transitions, [], 'the last report completed every move and flipped at once');
  assertSettled(r);
});

test('random odd sequences (seeded) keep the contract at every step and settle to the target with an empty ledger', async (t) => {
  const nodes = ['a', 'b', 'c', 'd', 'e', 'f'];
  // Replay or lengthen: KEYWAY_FUZZ_SEED=N KEYWAY_FUZZ_ITERATIONS=M.
  const { iterations, seed: first } = fuzzBudget(40);
  for (let seed = first; seed < first + iterations; seed++) await t.test(`seed ${seed}`, (st) => {
    const rng = new Rng(seed);
    const r = rig(st, { agentWaitMs: 300 + rng.int(3) * 1000, warmTimeoutMs: 2000 + rng.int(4) * 1000, drainMs: rng.int(2) * 1500, flipIntervalMs: rng.int(2) * 1000 }, new Set(nodes));
    const mapOf = (): ShardMap => {
      const eps = nodes
        .filter(() => rng.next() < 0.85)
        .map((id) => ep(id, { weight: 1 + rng.int(3), address: `10.0.0.${rng.int(3)}`, ...(rng.next() < 0.1 ? { ready: false, draining: rng.next() < 0.5 } : {}) }));
      return computeShardMap(eps, { shardCount: 32, replicas: 1 + rng.int(2), spread: 'none' });
    };
    r.plan(mapOf());
    const seen: { node: string; shard: number; until: number }[] = [];
    for (let i = 0; i < 60; i++) {
      const op = rng.int(6);
      if (op === 0) r.plan(mapOf());
      else if (op === 1) {
        const node = nodes[rng.int(nodes.length)]!;
        if (r.streams.delete(node)) r.driver.ownershipStreamClosed(node);
        else {
          r.streams.add(node);
          r.driver.ownershipStreamOpened(node);
        }
      } else if (op === 2) {
        const ms = r.last().state.transitions;
        for (const m of ms) seen.push({ node: m.warming, shard: m.shard, until: m.deadline });
        const m = ms[rng.int(Math.max(1, ms.length))];
        if (m) r.report({ node: m.warming, shards: [], moves: [{ shard: m.shard, untilUnixMs: m.deadline }] });
      } else if (op === 3 && seen.length > 0) {
        const old = seen[rng.int(seen.length)]!;
        r.report({ node: old.node, shards: [], moves: [{ shard: old.shard, untilUnixMs: old.until }] });
      } else if (op === 4) {
        r.report({ node: nodes[rng.int(nodes.length)]!, shards: [rng.int(32)] });
      } else r.advance(rng.int(1500));
    }
    assertSettled(r);
  });
});
