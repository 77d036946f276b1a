/**
 * The ownership stream's resources (docs/ownership.md "Resources"): for one cache node, one
 * `keyway.v1.ShardAssignment` per shard it serves, warms or drains, computed from the serving
 * view's routed map and handoff state. Pure: the same view and node give byte-equal resources.
 *
 * Rules (the handoff semantics of docs/ownership.md "Phases"):
 * - a shard whose routed owners include the node: PRIMARY (first owner) or REPLICA, SERVING, until 0;
 *   `reader` for the shard's first `readers` owners (the primary, and more for a spread hot shard);
 * - a shard in transition whose warming node is the node: PRIMARY, WARMING, `serving_owners` = the
 *   routed owners (`transition.from`) as peers, until = the transition's deadline. WARMING wins
 *   over SERVING when the warming node is also a routed replica;
 * - a drain of the node for a shard it is not otherwise assigned: PRIMARY, DRAINING, until = the
 *   drain's end;
 * - `shard_count` = the map's S. Names are the shard in decimal, sorted as strings (code-unit order,
 *   like every resource name), so "10" sorts before "2".
 */
import { create } from '@bufbuild/protobuf';
import type { Endpoint } from '../../core/endpoint.js';
import type { HandoffState } from '../../core/handoff.js';
import { compareStrings } from '../../core/order.js';
import { type ShardMap, shardReaders } from '../../core/shard-map.js';
import { ShardAssignmentSchema, ShardAssignment_Phase, ShardAssignment_Role, type ShardAssignment } from '../proto.js';
import type { TranslatedResource } from '../resources.js';

/** What the ownership resources are computed from: the routed map and, when handoff runs, its state. */
export interface AssignmentInput {
  readonly shardMap: ShardMap;
  readonly handoff?: HandoffState | undefined;
}

export interface AgentAssignments {
  /** The node's assignments, sorted by name. */
  readonly resources: readonly TranslatedResource[];
  /** Conditions worth a log line: a transition's routed owner missing from the map's endpoints. */
  readonly warnings: readonly string[];
}

interface AssignmentIndex {
  readonly byNode: ReadonlyMap<string, NodeBuild>;
  readonly warnings: readonly string[];
}

const NONE: readonly TranslatedResource[] = Object.freeze([]);
const NO_HANDOFF = {};

/**
 * Every node's assignments of one view are computed in one pass and remembered per (map, handoff)
 * object, since each connected agent is its own proxy class and asks for its share of the same
 * view. Views are immutable, so the memo cannot go stale; it is dropped with the view.
 */
const memo = new WeakMap<ShardMap, WeakMap<object, AssignmentIndex>>();

/**
 * Each node's resources of the view built last, with what they were made from. A map change alters
 * the assignments of a few nodes only; every other node keeps its earlier resource objects, so the
 * snapshot cache sees the same set and keeps that node's snapshot as it is.
 */
let previous = new Map<string, NodeBuild>();

/**
 * One node's resources and what they were made from: its SERVING shards packed as numbers, then the
 * rest as a key. The resources are made when the node's agent class is first translated, not when
 * the view is indexed: a change that moves every shard then costs one pass over the owners up front
 * and each node's messages as its class is built, so the xDS stage can build the classes in slices
 * that yield to the event loop (docs/ownership.md "Cost").
 */
class NodeBuild {
  #gathered: Gathered | undefined;
  #resources: readonly TranslatedResource[] | undefined;

  constructor(
    readonly shardCount: number,
    readonly serving: readonly number[],
    readonly othersKey: string,
    gathered: Gathered,
  ) {
    this.#gathered = gathered;
  }

  get resources(): readonly TranslatedResource[] {
    if (this.#resources === undefined) {
      this.#resources = resourcesOf(this.shardCount, this.#gathered!);
      this.#gathered = undefined; // the packed SERVING numbers stay in `serving`; the few others are dropped
    }
    return this.#resources;
  }
}

/** The ShardAssignment resources of `node` (docs/ownership.md), sorted by name; empty for a node keyway does not know. */
export function agentAssignments(input: AssignmentInput, node: string): AgentAssignments {
  const index = indexOf(input);
  return { resources: index.byNode.get(node)?.resources ?? NONE, warnings: index.warnings };
}

/** Does `node` get any assignment (an agent of any other node id gets the same empty set)? */
export function hasAssignments(input: AssignmentInput, node: string): boolean {
  return indexOf(input).byNode.has(node);
}

function indexOf({ shardMap, handoff }: AssignmentInput): AssignmentIndex {
  let perHandoff = memo.get(shardMap);
  if (!perHandoff) {
    perHandoff = new WeakMap();
    memo.set(shardMap, perHandoff);
  }
  const key = handoff ?? NO_HANDOFF;
  let index = perHandoff.get(key);
  if (!index) {
    index = buildIndex(shardMap, handoff);
    perHandoff.set(key, index);
  }
  return index;
}

type Fields = Pick<ShardAssignment, 'role' | 'phase' | 'untilUnixMs' | 'reader'> & { readonly servingOwners: readonly Endpoint[] };

/**
 * A SERVING assignment packed in one number: shard * 4, + 1 for a replica, + 2 for a reader. Each
 * node has one per shard and replica it owns (S x R in all): as numbers they are compared with the
 * previous view's at every map change without an object or a key string each.
 */
const REPLICA_BIT = 1;
const READER_BIT = 2;

/** One node's assignments as gathered: SERVING ones packed, WARMING and DRAINING ones (few) as fields. */
interface Gathered {
  readonly serving: number[];
  readonly others: Map<number, Fields>;
}

function buildIndex(map: ShardMap, handoff: HandoffState | undefined): AssignmentIndex {
  const shardCount = map.policy.shardCount;
  const warnings: string[] = [];
  const endpoints = new Map(map.endpoints.map((e) => [e.id, e]));
  const byNode = new Map<string, Gathered>();
  const gathered = (node: string): Gathered => {
    let g = byNode.get(node);
    if (!g) {
      g = { serving: [], others: new Map() };
      byNode.set(node, g);
    }
    return g;
  };

  map.owners.forEach((owners, shard) => {
    const readers = shardReaders(map, shard);
    owners.forEach((id, i) => gathered(id).serving.push(shard * 4 + (i === 0 ? 0 : REPLICA_BIT) + (i < readers ? READER_BIT : 0)));
  });
  // WARMING and DRAINING override SERVING for their shard (resourcesOf); a drain only where the node is not otherwise assigned.
  for (const t of handoff?.transitions ?? []) {
    const peers: Endpoint[] = [];
    for (const id of t.from) {
      const e = endpoints.get(id);
      if (e) peers.push(e);
      else warnings.push(`shard ${t.shard}: routed owner ${id} is not in the shard map's endpoints; ${t.warming} is not told to warm from it`);
    }
    gathered(t.warming).others.set(t.shard, {
      role: ShardAssignment_Role.PRIMARY,
      phase: ShardAssignment_Phase.WARMING,
      untilUnixMs: BigInt(t.deadline),
      servingOwners: peers,
      reader: false,
    });
  }
  for (const d of handoff?.drains ?? []) {
    if (map.owners[d.shard]?.includes(d.node) || byNode.get(d.node)?.others.has(d.shard)) continue;
    gathered(d.node).others.set(d.shard, { role: ShardAssignment_Role.PRIMARY, phase: ShardAssignment_Phase.DRAINING, untilUnixMs: BigInt(d.until), servingOwners: [], reader: false });
  }

  const next = new Map<string, NodeBuild>();
  for (const [node, g] of byNode) {
    const othersKey = fieldsKey(g.others);
    const last = previous.get(node);
    const build =
      last && last.shardCount === shardCount && last.othersKey === othersKey && sameNumbers(last.serving, g.serving)
        ? last
        : new NodeBuild(shardCount, g.serving, othersKey, g);
    next.set(node, build);
  }
  previous = next;
  return { byNode: next, warnings };
}

function sameNumbers(a: readonly number[], b: readonly number[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** The fields of a packed SERVING assignment. */
function servingFields(packed: number): Fields {
  return {
    role: packed & REPLICA_BIT ? ShardAssignment_Role.REPLICA : ShardAssignment_Role.PRIMARY,
    phase: ShardAssignment_Phase.SERVING,
    untilUnixMs: 0n,
    servingOwners: [],
    reader: (packed & READER_BIT) !== 0,
  };
}

function resourcesOf(shardCount: number, { serving, others }: Gathered): readonly TranslatedResource[] {
  const shards = new Map<number, Fields>();
  for (const packed of serving) shards.set(Math.floor(packed / 4), servingFields(packed));
  for (const [shard, f] of others) shards.set(shard, f);
  const resources = [...shards].map(([shard, f]) => ({
    name: String(shard),
    schema: ShardAssignmentSchema,
    message: create(ShardAssignmentSchema, {
      shard,
      shardCount,
      role: f.role,
      phase: f.phase,
      servingOwners: f.servingOwners.map((e) => ({ id: e.id, address: e.address, port: e.port })),
      untilUnixMs: f.untilUnixMs,
      reader: f.reader,
    }),
  }));
  resources.sort((a, b) => compareStrings(a.name, b.name));
  return Object.freeze(resources as TranslatedResource[]);
}

/** Everything resourcesOf reads of the WARMING and DRAINING assignments, as one string. */
function fieldsKey(shards: ReadonlyMap<number, Fields>): string {
  let key = '';
  for (const [shard, f] of shards) {
    key += `\n${shard}\0${f.role}\0${f.phase}\0${f.untilUnixMs}\0${f.reader ? 1 : 0}`;
    for (const e of f.servingOwners) key += `\0${e.id}\0${e.address}\0${e.port}`;
  }
  return key;
}
