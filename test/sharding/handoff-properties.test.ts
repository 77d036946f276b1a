// Property test of the handoff planner (docs/ownership.md "Two-phase moves") under random
// topology changes while moves are in flight (targets and sources removed, nodes flapping, weights
// reversing a move, draining), warm reports that wait for a flip tick, and streams opening and closing.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import type { Endpoint } from '../../src/core/endpoint.js';
import { DEFAULT_HANDOFF_SETTINGS } from '../../src/core/handoff.js';
import { computeShardMap } from '../../src/sharding/index.js';
import { stepHandoff, type HandoffStep } from '../../src/sharding/handoff.js';
import { WarmLedger } from '../../src/sharding/warm-ledger.js';
import { PROPERTY_SEED } from './arbitraries.js';
import { ep } from './handoff-fixtures.js';

const IDS = ['a', 'b', 'c', 'd', 'e', 'f'];
const S = 16;
const settings = { ...DEFAULT_HANDOFF_SETTINGS, warmTimeoutMs: 1000, drainMs: 500, agentWaitMs: 300 };
const six = <T>(arb: fc.Arbitrary<T>) => fc.array(arb, { minLength: 6, maxLength: 6 });

type Ev =
  | { k: 'topo'; present: boolean[]; ready: boolean[]; draining: boolean[]; weight: number[] }
  | { k: 'flap'; node: number }
  /** `inFlight`: the node reports the shards it is warming now; `defer`: the step waits for the next event (a flip tick). */
  | { k: 'warm'; node: number; shards: number[]; inFlight: boolean; defer: boolean }
  | { k: 'tick'; dt: number }
  | { k: 'streams'; open: boolean[] };

const evArb: fc.Arbitrary<Ev> = fc.oneof(
  fc.record({ k: fc.constant('topo' as const), present: six(fc.boolean()), ready: six(fc.boolean()), draining: six(fc.boolean()), weight: six(fc.constantFrom(1, 2, 5)) }),
  { weight: 2, arbitrary: fc.record({ k: fc.constant('flap' as const), node: fc.nat({ max: 5 }) }) },
  fc.record({ k: fc.constant('warm' as const), node: fc.nat({ max: 5 }), shards: fc.array(fc.nat({ max: S - 1 }), { maxLength: 8 }), inFlight: fc.boolean(), defer: fc.boolean() }),
  fc.record({ k: fc.constant('tick' as const), dt: fc.integer({ min: 1, max: 700 }) }),
  fc.record({ k: fc.constant('streams' as const), open: six(fc.boolean()) }),
);

test('the planner routes only to nodes that can serve, holds a shard only on its routed primary, and flips on fresh reports', () => {
  fc.assert(
    fc.property(fc.array(evArb, { minLength: 1, maxLength: 40 }), fc.constantFrom(1, 2, 3), fc.boolean(), (evs, R, agentsExpected) => {
      const policy = { shardCount: S, replicas: R, spread: 'none' as const };
      const warm = new WarmLedger();
      let now = 1_000_000;
      let endpoints: Endpoint[] = IDS.slice(0, 4).map((id) => ep(id));
      let target = computeShardMap(endpoints, policy);
      let warmers: ReadonlySet<string> = new Set(IDS);
      const plan = (previous: HandoffStep | undefined): HandoffStep => stepHandoff({ previous, target, warm, warmers, agentsExpected, settings, now });
      let prev = plan(undefined);
      // Event numbers: of each (node/shard)'s last report, and of the step that last ended its transition without one.
      let seq = 0;
      const reportedAt = new Map<string, { seq: number; at: number }>();
      const endedWithout = new Map<string, number>();
      for (const ev of evs) {
        seq++;
        if (ev.k === 'topo') {
          endpoints = IDS.flatMap((id, i) =>
            ev.present[i] ? [ep(id, { weight: ev.weight[i]!, ready: ev.ready[i]!, ...(ev.draining[i] ? { draining: true } : {}) })] : [],
          );
        } else if (ev.k === 'flap') {
          const id = IDS[ev.node]!;
          const had = endpoints.some((e) => e.id === id);
          endpoints = had ? endpoints.map((e) => (e.id === id ? { ...e, ready: !e.ready } : e)) : [...endpoints, ep(id)];
        } else if (ev.k === 'warm') {
          const node = IDS[ev.node]!;
          const shards = ev.inFlight ? prev.state.transitions.filter((t) => t.warming === node).map((t) => t.shard) : ev.shards;
          warm.record(node, shards, now);
          for (const s of shards) reportedAt.set(`${node}/${s}`, { seq, at: now });
          if (ev.defer) continue;
        } else if (ev.k === 'tick') now += ev.dt;
        else warmers = new Set(IDS.filter((_, i) => ev.open[i]));
        target = computeShardMap(endpoints, policy);
        const next = plan(prev);
        const byId = new Map(target.endpoints.map((e) => [e.id, e]));
        const canServe = (id: string | undefined): boolean => {
          const e = id === undefined ? undefined : byId.get(id);
          return e !== undefined && (e.ready || e.draining === true);
        };
        next.routed.owners.forEach((owners, s) => {
          for (const id of owners) assert.ok(canServe(id), `shard ${s}: routed to ${id}, which cannot serve`);
          const before = prev.routed.owners[s]![0];
          const held = next.state.transitions.find((t) => t.shard === s);
          if (held) {
            assert.equal(owners[0], before, `shard ${s}: held on its routed primary`);
            assert.equal(held.warming, target.owners[s]![0]);
          } else if (target.owners[s]!.length === 0) {
            // No node can take it: it stays with those of its routed owners that still serve.
            assert.deepEqual(owners, prev.routed.owners[s]!.filter(canServe), `shard ${s}: no target owner, so kept where it can be served`);
          } else {
            assert.deepEqual(owners, target.owners[s], `shard ${s}: not held, so routed as the target`);
          }
          const after = owners[0];
          if (after === undefined || after === before || !canServe(before)) return;
          // The routed primary changed while the previous one could serve: a transition ended.
          const ended = next.state.completed.find((c) => c.shard === s && c.warming === after);
          assert.ok(ended !== undefined || !warmers.has(after), `shard ${s}: flipped ${before} -> ${after} with no transition ending`);
          if (ended?.outcome !== 'warm') return;
          const report = reportedAt.get(`${after}/${s}`);
          const startedAt = prev.state.transitions.find((t) => t.shard === s && t.warming === after)?.startedAt ?? now;
          assert.ok(report !== undefined && report.at >= startedAt - settings.warmTimeoutMs, `shard ${s}: flipped to ${after} on no recent report`);
          assert.ok(report.seq > (endedWithout.get(`${after}/${s}`) ?? -1), `shard ${s}: flipped to ${after} on a report of a transition that ended without it`);
        });
        for (const c of next.state.completed) if (c.outcome !== 'warm') endedWithout.set(`${c.warming}/${c.shard}`, seq);
        for (const d of next.state.drains) {
          assert.ok(!next.routed.owners[d.shard]!.includes(d.node), `shard ${d.shard}: ${d.node} drains a shard routed to it`);
          assert.ok(d.until > now);
        }
        const shards = next.state.transitions.map((t) => t.shard);
        assert.deepEqual(shards, [...shards].sort((x, y) => x - y));
        prev = next;
      }
    }),
    { numRuns: 3000, seed: PROPERTY_SEED },
  );
});
