/**
 * The warm-up work a topology change causes (`keyway diff`, docs/cli.md "Warm-up"): which shards
 * would move in two phases (routed to their previous primary while the new one warms, see
 * docs/ownership.md) and which would flip at once. Pure: it runs the same planner as
 * `keyway serve`, assuming every node of the new topology runs the ownership agent.
 */
import type { HandoffSettings } from '../../core/handoff.js';
import { compareStrings } from '../../core/order.js';
import type { ShardMap } from '../../sharding/index.js';
import { stepHandoff } from '../../sharding/handoff.js';
import { WarmLedger } from '../../sharding/warm-ledger.js';

export interface WarmupReport {
  readonly enabled: boolean;
  readonly warmTimeoutMs: number;
  /** Shards whose new primary warms before the route flips. */
  readonly twoPhase: number;
  /** Shards whose primary changes at once: the previous primary cannot serve (gone, or not ready and not draining). */
  readonly immediate: number;
  /** Per warming node: how many shards it warms, and from which previous primaries. */
  readonly byNode: readonly { readonly node: string; readonly shards: number; readonly from: Readonly<Record<string, number>> }[];
}

/** The warm-up `to` causes after `from`, under `settings` (the new file's `handoff:`). Undefined when S changes. */
export function warmupReport(from: ShardMap, to: ShardMap, settings: HandoffSettings): WarmupReport | undefined {
  if (from.policy.shardCount !== to.policy.shardCount) return undefined;
  const warm = new WarmLedger();
  const warmers = new Set(to.endpoints.map((e) => e.id));
  const first = stepHandoff({ previous: undefined, target: from, warm, warmers, agentsExpected: true, settings, now: 0 });
  const next = stepHandoff({ previous: first, target: to, warm, warmers, agentsExpected: true, settings, now: 0 });
  let primaryChanged = 0;
  to.owners.forEach((o, shard) => {
    if (o[0] !== from.owners[shard]?.[0]) primaryChanged++;
  });
  const byNode = new Map<string, Map<string, number>>();
  for (const t of next.state.transitions) {
    const row = byNode.get(t.warming) ?? new Map<string, number>();
    byNode.set(t.warming, row);
    const source = t.from[0] ?? '(none)';
    row.set(source, (row.get(source) ?? 0) + 1);
  }
  return {
    enabled: settings.enabled,
    warmTimeoutMs: settings.warmTimeoutMs,
    twoPhase: next.state.transitions.length,
    immediate: primaryChanged - next.state.transitions.length,
    byNode: [...byNode]
      .sort(([a], [b]) => compareStrings(a, b))
      .map(([node, sources]) => ({
        node,
        shards: [...sources.values()].reduce((a, b) => a + b, 0),
        from: Object.fromEntries([...sources].sort(([a], [b]) => compareStrings(a, b))),
      })),
  };
}
