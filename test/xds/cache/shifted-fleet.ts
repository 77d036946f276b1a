/**
 * A fleet of agent nodes whose every shard changes owners with one number: the maps the sliced
 * build tests publish (a change that moves every shard, docs/ownership.md "Cost").
 */
import type { ShardMap } from '../../../src/core/shard-map.js';
import type { ProxyClass } from '../../../src/xds/resources.js';
import { endpoint, topologyOf } from '../translator/fixtures.js';

/** `nodes` endpoints on `subnet`.x, S = `shards`, R = 2, one agent class per node. */
export function shiftedFleet(nodes: number, shards: number, subnet: string) {
  const eps = Array.from({ length: nodes }, (_, i) => endpoint(`gpu-${String(i).padStart(2, '0')}`, `${subnet}.${i + 1}`));
  const policy = { shardCount: shards, replicas: 2, spread: 'none' as const };
  const topology = topologyOf(eps, policy);
  const agents: ProxyClass[] = eps.map((e) => ({ flavor: 'agent', zone: '', subzone: '', node: e.id }));
  /** Owners (7s + 13r + shift) mod N: every shard's owners change with `shift`. */
  const mapOf = (shift: number): ShardMap => {
    const owners = Array.from({ length: shards }, (_, s) => [0, 1].map((r) => eps[(s * 7 + r * 13 + shift) % nodes]!.id));
    return { version: `shift-${shift}`, policy, endpoints: eps, owners, warnings: [] };
  };
  return { eps, policy, topology, agents, mapOf };
}
