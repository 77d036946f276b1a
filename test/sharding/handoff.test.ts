// The handoff planner (docs/ownership.md "Two-phase moves"): which shards wait for a warm report,
// which flip at once, drains, and that two replicas fed the same inputs route alike.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Endpoint } from '../../src/core/endpoint.js';
import { DEFAULT_HANDOFF_SETTINGS, type HandoffSettings } from '../../src/core/handoff.js';
import type { ShardMap } from '../../src/core/shard-map.js';
import { computeShardMap } from '../../src/sharding/index.js';
import { nextHandoffDeadline, sameHandoff, stepHandoff, type HandoffStep } from '../../src/sharding/handoff.js';
import { MAX_UNLISTED_WARM_REPORTS, MAX_WARM_REPORTS, WarmLedger } from '../../src/sharding/warm-ledger.js';
import { ep } from './handoff-fixtures.js';

const S = 256;
const mapOf = (endpoints: Endpoint[], replicas = 1): ShardMap => computeShardMap(endpoints, { shardCount: S, replicas, spread: 'none' });
const settings: HandoffSettings = { ...DEFAULT_HANDOFF_SETTINGS, warmTimeoutMs: 30_000, drainMs: 10_000 };
const T0 = 1_000_000;

/** Every node in these tests has an ownership stream open unless a test says otherwise. */
const ALL = new Set(['a', 'b', 'c', 'd', 'e', 'f']);
function step(
  previous: HandoffStep | undefined,
  target: ShardMap,
  now: number,
  warm = new WarmLedger(),
  over: Partial<HandoffSettings> = {},
  warmers: ReadonlySet<string> = ALL,
  agentsExpected = false,
): HandoffStep {
  return stepHandoff({ previous, target, warm, warmers, agentsExpected, settings: { ...settings, ...over }, now });
}

const four = ['a', 'b', 'c', 'd'].map((id) => ep(id));
const primaryOf = (m: ShardMap, shard: number): string | undefined => m.owners[shard]?.[0];
const shardsMovingTo = (before: ShardMap, after: ShardMap, id: string): number[] =>
  after.owners.flatMap((o, s) => (o[0] === id && primaryOf(before, s) !== id ? [s] : []));

test('the first map is routed as computed: nothing to hand off from', () => {
  const target = mapOf(four);
  const s = step(undefined, target, T0);
  assert.equal(s.routed, target);
  assert.deepEqual(s.state.transitions, []);
  assert.deepEqual(s.state.started, []);
});

test('a new node gains shards in two phases: routed to the previous owners until it reports warm', () => {
  const before = mapOf(four);
  const s0 = step(undefined, before, T0);
  const after = mapOf([...four, ep('e')]);
  const gaining = shardsMovingTo(before, after, 'e');
  assert.ok(gaining.length > 10, `e gains ${gaining.length} shards`);
  const warm = new WarmLedger();
  const s1 = step(s0, after, T0 + 1, warm);
  assert.deepEqual(s1.state.transitions.map((t) => t.shard), gaining);
  assert.deepEqual(s1.state.started, gaining);
  for (const t of s1.state.transitions) {
    assert.equal(t.warming, 'e');
    assert.deepEqual(t.from, before.owners[t.shard]);
    assert.deepEqual(t.to, after.owners[t.shard]);
    assert.equal(t.deadline, T0 + 1 + settings.warmTimeoutMs);
    assert.deepEqual(s1.routed.owners[t.shard], before.owners[t.shard], 'still routed to the previous owner');
  }
  assert.ok(s1.routed.owners.every((o) => o[0] !== 'e'), 'no shard routed to e before it is warm');
  assert.notEqual(s1.routed.version, after.version);
  assert.equal(s1.state.target, after);
  assert.equal(nextHandoffDeadline(s1.state), T0 + 1 + settings.warmTimeoutMs);

  // e reports half of them warm: exactly those flip, their previous primaries drain.
  const half = gaining.slice(0, Math.floor(gaining.length / 2));
  warm.record('e', half, T0 + 500);
  const s2 = step(s1, after, T0 + 600, warm);
  for (const shard of half) assert.equal(primaryOf(s2.routed, shard), 'e');
  for (const shard of gaining.slice(half.length)) assert.equal(primaryOf(s2.routed, shard), primaryOf(before, shard));
  assert.deepEqual(s2.state.completed.map((c) => [c.shard, c.outcome]), half.map((s) => [s, 'warm']));
  assert.ok(s2.state.completed.every((c) => Math.abs(c.seconds - 0.599) < 1e-9));
  assert.deepEqual(s2.state.drains.map((d) => d.shard), half);
  for (const d of s2.state.drains) {
    assert.equal(d.node, primaryOf(before, d.shard));
    assert.equal(d.until, T0 + 600 + settings.drainMs);
  }

  // The deadline flips the rest; drains end at their time.
  const s3 = step(s2, after, T0 + 1 + settings.warmTimeoutMs, warm);
  assert.equal(s3.routed, after, 'nothing left in transition: the routed map is the target');
  assert.deepEqual(s3.state.completed.map((c) => c.outcome), gaining.slice(half.length).map(() => 'timeout'));
  assert.equal(s3.state.drains.length, gaining.length - half.length, 'the timed-out shards drain too; the first drains already ended');
  assert.ok(s3.state.drains.every((d) => d.until === T0 + 1 + settings.warmTimeoutMs + settings.drainMs));
  const s4 = step(s3, after, T0 + 1 + settings.warmTimeoutMs + settings.drainMs, warm);
  assert.deepEqual(s4.state.drains, []);
});

test('a failed node moves at once: its shards flip to the new owners with no warm-up and no drain', () => {
  const before = mapOf(four);
  const s0 = step(undefined, before, T0);
  const lost = before.owners.flatMap((o, s) => (o[0] === 'b' ? [s] : []));
  for (const gone of [four.filter((e) => e.id !== 'b'), four.map((e) => (e.id === 'b' ? { ...e, ready: false } : e))]) {
    const after = mapOf(gone);
    const s1 = step(s0, after, T0 + 1);
    assert.deepEqual(s1.state.transitions, []);
    assert.equal(s1.routed, after);
    for (const shard of lost) assert.notEqual(primaryOf(s1.routed, shard), 'b');
    assert.deepEqual(s1.state.drains, []);
  }
});

test('a draining node hands off: its shards wait for their new primaries, and it drains them after', () => {
  const before = mapOf(four);
  const s0 = step(undefined, before, T0);
  const after = mapOf(four.map((e) => (e.id === 'c' ? { ...e, ready: false, draining: true } : e)));
  const leaving = before.owners.flatMap((o, s) => (o[0] === 'c' ? [s] : []));
  const s1 = step(s0, after, T0 + 1);
  assert.deepEqual(s1.state.transitions.map((t) => t.shard), leaving);
  for (const shard of leaving) assert.equal(primaryOf(s1.routed, shard), 'c', 'still routed to the draining node');
  const warm = new WarmLedger();
  for (const t of s1.state.transitions) warm.record(t.warming, [t.shard], T0 + 2);
  const s2 = step(s1, after, T0 + 3, warm);
  assert.equal(s2.routed, after);
  assert.deepEqual(s2.state.drains.map((d) => [d.shard, d.node]), leaving.map((s) => [s, 'c']));
});

test('when every node drains, no one can take their shards: they stay routed to the draining owners until those stop serving', () => {
  // A fleet-wide rollout or a scale to zero: routing to nobody at once failed every request while
  // the draining pods still served for their grace period.
  const two = ['a', 'b'].map((id) => ep(id));
  const before = mapOf(two, 2);
  const s0 = step(undefined, before, T0);
  const draining = mapOf(two.map((e) => ({ ...e, ready: false, draining: true })), 2);
  assert.ok(draining.owners.every((o) => o.length === 0), 'the target gives no owner');
  const s1 = step(s0, draining, T0 + 1);
  assert.deepEqual(s1.routed.owners, before.owners, 'routed as before: both still serve');
  assert.notEqual(s1.routed.version, draining.version);
  assert.deepEqual(s1.state.transitions, [], 'nothing to warm');
  const again = step(s1, draining, T0 + 2);
  assert.equal(again.routed.version, s1.routed.version, 'stable while nothing changes');
  // One of them stops (its pod died): the shards stay with the other alone; then it stops too.
  const oneLeft = mapOf([{ ...two[0]!, ready: false, draining: true }, { ...two[1]!, ready: false }], 2);
  const s2 = step(again, oneLeft, T0 + 3);
  assert.ok(s2.routed.owners.every((o) => o.length === 1 && o[0] === 'a'), 'only the one that still serves');
  const gone = mapOf([{ ...two[0]!, ready: false }, { ...two[1]!, ready: false }], 2);
  const s3 = step(s2, gone, T0 + 4);
  assert.equal(s3.routed, gone, 'no one can serve: no owner, as computed');
  // A node that joins takes the shards from the draining ones in two phases, as any move.
  const joined = mapOf([...two.map((e) => ({ ...e, ready: false, draining: true })), ep('c')], 2);
  const s4 = step(s1, joined, T0 + 5);
  assert.equal(s4.state.transitions.length, S, 'every shard warms on the new node first');
  assert.deepEqual(s4.routed.owners, before.owners, 'while the draining nodes serve them');
});

test('a replica-only change flips at once; a change back cancels a transition', () => {
  const before = mapOf(four, 2);
  const s0 = step(undefined, before, T0);
  const after = mapOf([...four, ep('e')], 2);
  const s1 = step(s0, after, T0 + 1);
  after.owners.forEach((to, shard) => {
    if (to[0] === primaryOf(before, shard)) assert.deepEqual(s1.routed.owners[shard], to, `shard ${shard}: replicas follow the target at once`);
  });
  assert.ok(s1.state.transitions.length > 0);
  const s2 = step(s1, before, T0 + 2);
  assert.equal(s2.routed, before);
  assert.deepEqual(s2.state.transitions, []);
  assert.deepEqual(new Set(s2.state.completed.map((c) => c.outcome)), new Set(['cancelled']));
});

test('a warming node that fails mid-transition: the transition to it is replaced by one to the next target', () => {
  const before = mapOf(four);
  const s0 = step(undefined, before, T0);
  const withE = mapOf([...four, ep('e')]);
  const s1 = step(s0, withE, T0 + 1);
  const withF = mapOf([...four, ep('f')]);
  const s2 = step(s1, withF, T0 + 2);
  for (const t of s2.state.transitions) {
    assert.equal(t.warming, 'f');
    assert.equal(t.startedAt, T0 + 2);
    assert.deepEqual(t.from, before.owners[t.shard], 'still routed to the owner of before');
  }
  assert.ok(s2.state.completed.every((c) => c.warming === 'e' && c.outcome === 'cancelled'));
});

test('a move to a node without an ownership stream flips at once; one whose stream closes ends as agent-lost', () => {
  const before = mapOf(four);
  const s0 = step(undefined, before, T0);
  const after = mapOf([...four, ep('e')]);
  const gaining = shardsMovingTo(before, after, 'e');
  const s1 = step(s0, after, T0 + 1, new WarmLedger(), {}, new Set(['a', 'b', 'c', 'd']));
  assert.equal(s1.routed, after);
  assert.deepEqual(s1.state.transitions, []);
  assert.deepEqual(s1.state.drains.map((d) => d.shard), gaining, 'the previous primaries still drain');
  const warming = step(s0, after, T0 + 1);
  const lost = step(warming, after, T0 + 2, new WarmLedger(), {}, new Set(['a', 'b', 'c', 'd']));
  assert.equal(lost.routed, after);
  assert.deepEqual(new Set(lost.state.completed.map((c) => c.outcome)), new Set(['agent-lost']));
});

test('in a fleet that runs agents, a move to a node without a stream waits agentWaitMs for it, then flips as agent-lost', () => {
  const before = mapOf(four);
  const s0 = step(undefined, before, T0);
  const after = mapOf([...four, ep('e')]);
  const gaining = shardsMovingTo(before, after, 'e');
  const abcd = new Set(['a', 'b', 'c', 'd']);
  const waitFor = (previous: HandoffStep, now: number, warmers: ReadonlySet<string>, over: Partial<HandoffSettings> = {}): HandoffStep =>
    step(previous, after, now, new WarmLedger(), { agentWaitMs: 2000, ...over }, warmers, true);

  // e turned ready before its agent connected: its shards stay with their previous owners.
  const waiting = waitFor(s0, T0 + 1, abcd);
  assert.deepEqual(waiting.state.transitions.map((t) => t.shard), gaining);
  assert.ok(waiting.state.transitions.every((t) => t.warming === 'e' && t.deadline === T0 + 1 + 2000));
  for (const s of gaining) assert.equal(primaryOf(waiting.routed, s), primaryOf(before, s));
  assert.equal(nextHandoffDeadline(waiting.state), T0 + 1 + 2000);

  // Its stream opens within the wait: the deadline becomes the warm-up's, and a warm report flips.
  const connected = waitFor(waiting, T0 + 500, ALL);
  assert.ok(connected.state.transitions.every((t) => t.deadline === T0 + 1 + settings.warmTimeoutMs));
  assert.equal(waitFor(connected, T0 + 2001, ALL).state.transitions.length, gaining.length, 'no flip at the old stream deadline');
  const warm = new WarmLedger();
  warm.record('e', gaining, T0 + 600);
  const flipped = step(connected, after, T0 + 700, warm, { agentWaitMs: 2000 }, ALL, true);
  assert.equal(flipped.routed, after);
  assert.deepEqual(new Set(flipped.state.completed.map((c) => c.outcome)), new Set(['warm']));

  // Its stream never opens: the moves flip at the end of the wait, as agent-lost, and the old owners drain.
  assert.equal(waitFor(waiting, T0 + 2000, abcd).state.transitions.length, gaining.length);
  const gaveUp = waitFor(waiting, T0 + 2001, abcd);
  assert.equal(gaveUp.routed, after);
  assert.deepEqual(new Set(gaveUp.state.completed.map((c) => c.outcome)), new Set(['agent-lost']));
  assert.deepEqual(gaveUp.state.drains.map((d) => d.shard), gaining);

  // agentWaitMs 0, or a fleet where no node ever opened a stream: the moves flip at once.
  assert.equal(waitFor(s0, T0 + 1, abcd, { agentWaitMs: 0 }).routed, after);
  assert.equal(step(s0, after, T0 + 1, new WarmLedger(), { agentWaitMs: 2000 }, new Set(), false).routed, after);
});

test('handoff disabled: every move flips at once', () => {
  const s0 = step(undefined, mapOf(four), T0);
  const after = mapOf([...four, ep('e')]);
  const s1 = step(s0, after, T0 + 1, new WarmLedger(), { enabled: false });
  assert.equal(s1.routed, after);
  assert.deepEqual(s1.state.transitions, []);
});

test('two replicas agree: a warm report that reaches one before it saw the change still counts', () => {
  const before = mapOf(four);
  const after = mapOf([...four, ep('e')]);
  const gaining = shardsMovingTo(before, after, 'e');
  // Replica A sees the change at T0+10 and hears the report at T0+50; replica B hears the report
  // at T0+40, before it sees the change at T0+60.
  const ledgerA = new WarmLedger();
  const a0 = step(undefined, before, T0, ledgerA);
  const a1 = step(a0, after, T0 + 10, ledgerA);
  ledgerA.record('e', gaining, T0 + 50);
  const a2 = step(a1, after, T0 + 50, ledgerA);
  const ledgerB = new WarmLedger();
  const b0 = step(undefined, before, T0, ledgerB);
  ledgerB.record('e', gaining, T0 + 40);
  const b1 = step(b0, after, T0 + 60, ledgerB);
  assert.equal(a1.routed.version, step(b0, after, T0 + 60, new WarmLedger()).routed.version, 'same transitions, same routed version');
  assert.equal(a2.routed.version, b1.routed.version);
  assert.equal(b1.routed, after);
});

test('sameHandoff tells a step that changes nothing from one that does', () => {
  const s0 = step(undefined, mapOf(four), T0);
  const after = mapOf([...four, ep('e')]);
  const s1 = step(s0, after, T0 + 1);
  const s1again = step(s1, after, T0 + 2);
  assert.ok(sameHandoff(s1, s1again));
  assert.ok(!sameHandoff(s0, s1));
});

test('the warm ledger: reports are used once, old ones do not count, and it is bounded', () => {
  const l = new WarmLedger();
  l.record('n', [1, 2], 100);
  assert.equal(l.take('n', 1, 50), true);
  assert.equal(l.take('n', 1, 50), false, 'used up');
  assert.equal(l.take('n', 2, 101), false, 'older than the window');
  l.record('m', [3], 10);
  l.prune(11);
  assert.equal(l.size, 0);
  const big = Array.from({ length: MAX_WARM_REPORTS + 5 }, (_, i) => i);
  assert.equal(l.record('x', big, 1), MAX_WARM_REPORTS);
  assert.equal(l.size, MAX_WARM_REPORTS);
});

test('reports from node ids the map does not list are held in a budget of their own: a flood of them leaves room for the map\'s nodes', () => {
  const l = new WarmLedger();
  // A client inventing node ids: 64 ids of 2048 shards each, past the unlisted budget.
  let flooded = 0;
  for (let i = 0; i < 64; i++) flooded += l.record(`stranger-${i}`, Array.from({ length: 2048 }, (_, s) => s), 1, false);
  assert.equal(flooded, MAX_UNLISTED_WARM_REPORTS, 'no more than the unlisted budget');
  assert.equal(l.record('gpu-a1', [1, 2, 3], 2), 3, 'a node the map lists still reports');
  assert.equal(l.take('gpu-a1', 2, 0), true);
  // A node not listed yet, once the flood has aged out, is held again.
  l.prune(2);
  assert.equal(l.size, 2, 'the strangers\' reports are gone');
  assert.equal(l.record('joining', [7], 3, false), 1);
  assert.equal(l.take('joining', 7, 0), true);
});

test('a warm report of a move that was cancelled does not flip a later move of the shard to the node', () => {
  // e warms its shards and reports, but turns not ready before the flip; back within
  // warmTimeoutMs it gets the shards as WARMING again, after its agent dropped the first warm-ups
  // (and the example node moved their entries out of L1): the old report must not flip them cold.
  const before = mapOf(four);
  const after = mapOf([...four, ep('e')]);
  const gaining = shardsMovingTo(before, after, 'e');
  const warm = new WarmLedger();
  const s0 = step(undefined, before, T0, warm);
  const s1 = step(s0, after, T0 + 1, warm);
  warm.record('e', gaining, T0 + 500);
  const s2 = step(s1, mapOf([...four, ep('e', { ready: false })]), T0 + 600, warm);
  assert.deepEqual(new Set(s2.state.completed.map((c) => c.outcome)), new Set(['cancelled']));
  const s3 = step(s2, after, T0 + 5000, warm);
  assert.deepEqual(s3.state.transitions.map((t) => t.shard), gaining, 'the moves wait for a new warm report');
  assert.ok(s3.routed.owners.every((o) => o[0] !== 'e'));
  warm.record('e', gaining, T0 + 6000);
  assert.equal(step(s3, after, T0 + 6001, warm).routed, after, 'the new report flips them');

  // The same when the transition ended because its source failed (owner-lost) or the warming node
  // lost its stream, and the shard comes back to the node later.
  const ledger = new WarmLedger();
  const x1 = step(step(undefined, before, T0, ledger), after, T0 + 1, ledger);
  const shard = gaining[0]!;
  ledger.record('e', [shard], T0 + 100);
  const lost = step(x1, after, T0 + 200, ledger, {}, new Set(['a', 'b', 'c', 'd']));
  assert.ok(lost.state.completed.some((c) => c.shard === shard && c.outcome === 'agent-lost'));
  assert.equal(ledger.has('e', shard, 0), false, 'the report went with the transition');
});

test('a shorter drainMs (a reload) applies to the drains under way: each ends within it from the step', () => {
  const before = mapOf(four);
  const s0 = step(undefined, before, T0);
  const after = mapOf([...four, ep('e')]);
  const warm = new WarmLedger();
  const s1 = step(s0, after, T0 + 1, warm, { drainMs: 600_000 });
  warm.record('e', shardsMovingTo(before, after, 'e'), T0 + 2);
  const s2 = step(s1, after, T0 + 3, warm, { drainMs: 600_000 });
  assert.ok(s2.state.drains.length > 10);
  assert.ok(s2.state.drains.every((d) => d.until === T0 + 3 + 600_000));
  // The reload: drainMs 1000, re-planned at T0 + 10.
  const s3 = step(s2, after, T0 + 10, warm, { drainMs: 1000 });
  assert.equal(s3.state.drains.length, s2.state.drains.length);
  assert.ok(s3.state.drains.every((d) => d.until === T0 + 10 + 1000));
  assert.equal(nextHandoffDeadline(s3.state), T0 + 10 + 1000);
  // A longer one does not lengthen them.
  const s4 = step(s3, after, T0 + 20, warm, { drainMs: 600_000 });
  assert.ok(s4.state.drains.every((d) => d.until === T0 + 10 + 1000));
  assert.deepEqual(step(s4, after, T0 + 10 + 1000, warm).state.drains, []);
});

test('drainMs unchanged: a step whose clock went back less than a clock step (1 s) keeps every drain\'s end, so it changes nothing', () => {
  const before = mapOf(four);
  const s0 = step(undefined, before, T0);
  const after = mapOf([...four, ep('e')]);
  const warm = new WarmLedger();
  const s1 = step(s0, after, T0 + 1, warm);
  warm.record('e', shardsMovingTo(before, after, 'e'), T0 + 2);
  const s2 = step(s1, after, T0 + 3, warm);
  assert.ok(s2.state.drains.length > 10);
  // The wall clock set back 500 ms (an NTP correction under the driver's 1 s step threshold).
  const s3 = step(s2, after, T0 + 3 - 500, warm);
  assert.deepEqual(s3.state.drains.map((d) => d.until), s2.state.drains.map((d) => d.until), 'drains end when they did');
  assert.ok(sameHandoff(s3, s2), 'nothing to publish');
  // A shorter drainMs then still applies to them.
  const s4 = step(s3, after, T0 + 10, warm, { drainMs: 1000 });
  assert.ok(s4.state.drains.every((d) => d.until === T0 + 10 + 1000));
});
