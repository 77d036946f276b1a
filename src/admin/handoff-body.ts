/**
 * The handoff part of the REST API (public contract: docs/api.md, docs/ownership.md): the shards
 * in transition and the drains behind the routed map, and one node's progress in a handoff.
 */
import type { ServingView } from '../core/serving.js';
import type { HandoffBody, NodeHandoffBody } from './api-types.js';

const iso = (ms: number): string => new Date(ms).toISOString();

/** `handoff` of `GET /v1/shardmap`. */
export function handoffBody(view: ServingView): HandoffBody {
  const h = view.handoff;
  return {
    enabled: h?.enabled ?? false,
    targetVersion: h?.target.version ?? view.map.version,
    transitions: (h?.transitions ?? []).map((t) => ({
      shard: t.shard,
      from: t.from,
      to: t.to,
      warming: t.warming,
      startedAt: iso(t.startedAt),
      deadline: iso(t.deadline),
    })),
    drains: (h?.drains ?? []).map((d) => ({ shard: d.shard, node: d.node, until: iso(d.until) })),
  };
}

/** `GET /v1/handoff?node=ID`, or undefined when the node is not in the map. */
export function nodeHandoffBody(view: ServingView, node: string): NodeHandoffBody | undefined {
  const endpoint = view.map.endpoints.find((e) => e.id === node);
  if (!endpoint) return undefined;
  let routedShards = 0;
  let routedPrimary = 0;
  for (const owners of view.map.owners) {
    const at = owners.indexOf(node);
    if (at >= 0) routedShards++;
    if (at === 0) routedPrimary++;
  }
  const transitions = view.handoff?.transitions ?? [];
  const handingOff = transitions.filter((t) => t.from[0] === node).length;
  return {
    node,
    ready: endpoint.ready,
    draining: endpoint.draining === true,
    routedShards,
    routedPrimary,
    warming: transitions.filter((t) => t.warming === node).length,
    handingOff,
    drainingShards: (view.handoff?.drains ?? []).filter((d) => d.node === node).length,
    handedOff: routedShards === 0 && handingOff === 0,
    version: view.map.version,
  };
}
