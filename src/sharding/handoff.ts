/**
 * The handoff planner (docs/ownership.md "Two-phase moves"): from the target map the sharding
 * stage computed, the previous routed map and the warm reports heard, the routed map proxies get
 * and the shards in transition. Pure: the caller passes the clock, so two keyway replicas that see
 * the same maps and the same warm reports route every shard to the same owners.
 */
import { createHash } from 'node:crypto';
import type { Endpoint } from '../core/endpoint.js';
import type {
  CompletedTransition,
  HandoffSettings,
  HandoffState,
  ShardDrain,
  ShardTransition,
  TransitionOutcome,
} from '../core/handoff.js';
import type { ShardMap } from '../core/shard-map.js';
import type { WarmLedger } from './warm-ledger.js';

/** One result of the planner: what proxies route by, and the state behind it. */
export interface HandoffStep {
  readonly routed: ShardMap;
  readonly state: HandoffState;
  /**
   * The `handoff.drainMs` this step planned its drains under. A later step with a shorter one ends
   * the drains under way within it; absent (a step the caller rebuilt), the next step does so.
   */
  readonly drainMs?: number;
}

export interface HandoffInput {
  /** The previous step; undefined for the first map (nothing to hand off from). */
  readonly previous: HandoffStep | undefined;
  readonly target: ShardMap;
  /**
   * Warm reports heard recently; the step consumes the ones that complete a transition, and drops
   * the node's report of a shard whose transition ends without it (the node dropped that warm-up).
   */
  readonly warm: WarmLedger;
  /**
   * The nodes that can warm: those with an ownership stream open. A node without one cannot warm
   * or report: a move to it waits `agentWaitMs` for its stream when `agentsExpected`, else flips
   * at once, as in keyway 0.1.
   */
  readonly warmers: ReadonlySet<string>;
  /**
   * The fleet runs agents (a node has opened an ownership stream on this replica): a node without a
   * stream is likely one whose agent has not connected yet (a node that just turned ready).
   */
  readonly agentsExpected: boolean;
  readonly settings: HandoffSettings;
  /** Epoch ms. */
  readonly now: number;
}

/**
 * One planning step (docs/ownership.md "Two-phase moves"). For each shard whose target primary
 * differs from the primary it is routed to:
 * - the routed primary can still serve (ready, or draining): the shard stays routed to its
 *   previous owners and the new primary warms, until it reports warm or `warmTimeoutMs` passes;
 * - it cannot (it failed, left, or turned not ready without draining): the route flips at once.
 * A shard whose primary does not change routes to its target owners at once (a replica change).
 * A move to a node that has no ownership stream open (it cannot warm) waits for one up to
 * `agentWaitMs` from the start of the move when the fleet runs agents, then flips (`agent-lost`);
 * in a fleet without agents it flips at once.
 * After a flip the previous primary drains the shard for `drainMs`. A shard that no node can take
 * (the target gives it no owner: every endpoint left or drains) stays on those of its routed owners
 * that can still serve.
 */
export function stepHandoff(input: HandoffInput): HandoffStep {
  const { previous, target, warm, warmers, agentsExpected, settings, now } = input;
  const prevRouted = previous?.routed;
  const comparable = prevRouted !== undefined && prevRouted.policy.shardCount === target.policy.shardCount;
  if (!settings.enabled || !comparable || previous === undefined) {
    // Nothing to hand off from (first map, new S) or handoff off: route to the target at once.
    const ended = (previous?.state.transitions ?? []).map((t) => {
      warm.forget(t.warming, t.shard);
      return completed(t, 'cancelled', now);
    });
    // A new S renumbers the shards: a report heard under the old one (the old form names no move,
    // and one no move here used is kept warmTimeoutMs) would flip a move of the same number cold.
    if (prevRouted !== undefined && !comparable) warm.clear();
    return { routed: target, state: { enabled: settings.enabled, target, transitions: [], drains: [], started: [], completed: ended }, drainMs: settings.drainMs };
  }
  const byId = new Map<string, Endpoint>(target.endpoints.map((e) => [e.id, e]));
  const canServe = (id: string | undefined): id is string => {
    const e = id === undefined ? undefined : byId.get(id);
    return e !== undefined && (e.ready || e.draining === true);
  };
  const open = new Map(previous.state.transitions.map((t) => [t.shard, t]));
  const owners: (readonly string[])[] = [];
  const transitions: ShardTransition[] = [];
  const started: number[] = [];
  const ended: CompletedTransition[] = [];
  const newDrains: ShardDrain[] = [];
  /** Shards no node can take (every endpoint left or drains), kept on routed owners that still serve. */
  const kept: (readonly [number, ...string[]])[] = [];
  // A transition that ends without its warm report takes the node's report, if any, with it: the
  // node dropped the warm-up with its WARMING assignment, so a later move of the shard to the node
  // within warmTimeoutMs must wait for a new report, not flip on the old one.
  const end = (t: ShardTransition, outcome: TransitionOutcome): void => {
    if (outcome !== 'warm') warm.forget(t.warming, t.shard);
    ended.push(completed(t, outcome, now));
  };

  target.owners.forEach((to, shard) => {
    const routedBefore = prevRouted.owners[shard] ?? [];
    const t = open.get(shard);
    const fromPrimary = routedBefore[0];
    const flip = (outcome: TransitionOutcome | undefined): void => {
      owners.push(to);
      if (t) end(t, outcome ?? 'cancelled');
    };
    if (to.length === 0) {
      // Nobody to hand the shard to (the last nodes drain: a fleet-wide rollout, a scale to zero):
      // the owners routed now serve it while they can, rather than no one at once. It flips to no
      // owner when they stop serving (removed, or not ready without draining).
      const stay = routedBefore.filter(canServe);
      if (t) end(t, 'cancelled');
      owners.push(stay);
      if (stay.length > 0) kept.push([shard, ...stay]);
      return;
    }
    if (fromPrimary === undefined || to[0] === fromPrimary) return flip('cancelled');
    if (!canServe(fromPrimary)) return flip('owner-lost');
    const warming = to[0]!;
    const streamOpen = warmers.has(warming);
    // How long a move may wait: for the warm report, or first for the node's stream to open.
    const wait = streamOpen ? settings.warmTimeoutMs : Math.min(settings.agentWaitMs, settings.warmTimeoutMs);
    if (!streamOpen && (!agentsExpected || wait === 0)) {
      owners.push(to);
      if (t) end(t, t.warming === warming ? 'agent-lost' : 'cancelled');
      if (!to.includes(fromPrimary)) newDrains.push({ shard, node: fromPrimary, until: now + settings.drainMs });
      return;
    }
    let current = t;
    if (!current || current.warming !== warming) {
      if (current) end(current, 'cancelled');
      current = { shard, from: routedBefore, to, warming, startedAt: now, deadline: now + wait };
      started.push(shard);
    } else {
      // Recomputed each step: the deadline grows from the stream wait to the warm-up once it opens.
      current = { ...current, to, deadline: current.startedAt + wait };
    }
    const from = current.from.filter(canServe);
    const isWarm = warm.take(warming, shard, warmReportsSince(current, settings));
    if (isWarm || now >= current.deadline) {
      owners.push(to);
      end(current, isWarm ? 'warm' : streamOpen ? 'timeout' : 'agent-lost');
      if (!to.includes(fromPrimary)) newDrains.push({ shard, node: fromPrimary, until: now + settings.drainMs });
      return;
    }
    owners.push(from);
    transitions.push({ ...current, from });
  });

  // Drains end at their time, when the node left, or when it owns or warms the shard again. Keyed
  // by shard and node, not searched: a large move has as many drains as transitions.
  const drainKey = (shard: number, node: string): string => `${shard}\u0000${node}`;
  const warmingNow = new Set(transitions.map((t) => drainKey(t.shard, t.warming)));
  const renewed = new Set(newDrains.map((n) => drainKey(n.shard, n.node)));
  const busy = (d: ShardDrain): boolean => (owners[d.shard] ?? []).includes(d.node) || warmingNow.has(drainKey(d.shard, d.node));
  // A shorter drainMs (a reload) applies to the drains under way too: each ends within it from now.
  // Only then: with drainMs unchanged, a clock set back under the driver's step threshold (it is
  // not moved against the deadlines) would cut every drain short and republish each step.
  const latest = now + settings.drainMs;
  const shorter = previous.drainMs === undefined || settings.drainMs < previous.drainMs;
  const carried = previous.state.drains
    .filter((d) => !renewed.has(drainKey(d.shard, d.node)))
    .map((d) => (shorter && d.until > latest ? { ...d, until: latest } : d));
  const drains = [...carried, ...newDrains]
    .filter((d) => d.until > now && byId.has(d.node) && !busy(d))
    .sort((a, b) => a.shard - b.shard || (a.node < b.node ? -1 : a.node > b.node ? 1 : 0));

  const routed = transitions.length === 0 && kept.length === 0 ? target : routedMap(target, owners, transitions, kept);
  return { routed, state: { enabled: true, target, transitions, drains, started, completed: ended }, drainMs: settings.drainMs };
}

/**
 * The oldest warm report that counts for a transition (docs/ownership.md "Two-phase moves"): one
 * heard up to `warmTimeoutMs` before this replica started it, since replicas see a change a few
 * milliseconds apart and the node reports once to each.
 */
export function warmReportsSince(transition: Pick<ShardTransition, 'startedAt'>, settings: Pick<HandoffSettings, 'warmTimeoutMs'>): number {
  return transition.startedAt - settings.warmTimeoutMs;
}

/** The earliest time a step would change something without new input (a deadline, a drain's end). */
export function nextHandoffDeadline(state: HandoffState): number | undefined {
  let next: number | undefined;
  for (const t of state.transitions) next = next === undefined ? t.deadline : Math.min(next, t.deadline);
  for (const d of state.drains) next = next === undefined ? d.until : Math.min(next, d.until);
  return next;
}

/** Whether two steps route and assign the same (a step that changes nothing need not be published). */
export function sameHandoff(a: HandoffStep, b: HandoffStep): boolean {
  return (
    a.routed.version === b.routed.version &&
    a.state.target === b.state.target &&
    a.state.transitions.length === b.state.transitions.length &&
    a.state.transitions.every((t, i) => {
      const u = b.state.transitions[i]!;
      return t.shard === u.shard && t.warming === u.warming && t.deadline === u.deadline;
    }) &&
    a.state.drains.length === b.state.drains.length &&
    a.state.drains.every((d, i) => {
      const e = b.state.drains[i]!;
      return d.shard === e.shard && d.node === e.node && d.until === e.until;
    })
  );
}

function completed(t: ShardTransition, outcome: TransitionOutcome, now: number): CompletedTransition {
  return { shard: t.shard, warming: t.warming, outcome, seconds: Math.max(0, now - t.startedAt) / 1000 };
}

/**
 * The routed map: the target with the shards in transition kept on their previous owners. Its
 * version derives from the target's and the held shards, so replicas in the same state agree.
 */
function routedMap(target: ShardMap, owners: readonly (readonly string[])[], transitions: readonly ShardTransition[], kept: readonly (readonly [number, ...string[]])[]): ShardMap {
  // Kept shards after the held ones: with none kept, versions are what they were before kept shards existed.
  const held: (readonly (string | number)[])[] = [...transitions.map((t) => [t.shard, ...t.from]), ...kept];
  const version = createHash('sha256').update(JSON.stringify([target.version, held])).digest('hex').slice(0, 16);
  // Hot-shard readers stay: a held shard's readers are clamped to its held owners where used.
  return { version, policy: target.policy, endpoints: target.endpoints, owners, warnings: target.warnings, ...(target.readers ? { readers: target.readers } : {}) };
}
