/**
 * The agent's view of one `keyway.v1.ShardAssignment` (docs/ownership.md "Resources"), and the
 * check every received resource passes before the agent applies it: a resource that fails is
 * NACKed with the reason, never half-applied.
 */
import { fromBinary } from '@bufbuild/protobuf';
import type { Any } from '@bufbuild/protobuf/wkt';
import { ShardAssignmentSchema, ShardAssignment_Phase, ShardAssignment_Role } from '../xds/proto.js';
import { TYPE_URL } from '../xds/resources.js';

export type AssignmentRole = 'primary' | 'replica';
export type AssignmentPhase = 'serving' | 'warming' | 'draining';

/** A cache node as keyway knows it: its endpoint id and where it listens. */
export interface Peer {
  readonly id: string;
  readonly address: string;
  readonly port: number;
}

/** One shard this node serves, warms or drains (docs/ownership.md "Phases"). */
export interface Assignment {
  readonly shard: number;
  readonly shardCount: number;
  readonly role: AssignmentRole;
  readonly phase: AssignmentPhase;
  /** WARMING: the owners requests go to now, primary first: warm from these. Empty otherwise. */
  readonly servingOwners: readonly Peer[];
  /** WARMING: when the route flips anyway; DRAINING: when draining ends (Unix ms); 0 for SERVING. */
  readonly untilUnixMs: number;
  /**
   * SERVING: the shard's requests reach this node while it is healthy (the primary, or a reader of
   * a hot shard spread over several). A replica that is not a reader only backs up.
   */
  readonly reader: boolean;
}

const ROLES: ReadonlyMap<ShardAssignment_Role, AssignmentRole> = new Map([
  [ShardAssignment_Role.PRIMARY, 'primary'],
  [ShardAssignment_Role.REPLICA, 'replica'],
]);
const PHASES: ReadonlyMap<ShardAssignment_Phase, AssignmentPhase> = new Map([
  [ShardAssignment_Phase.SERVING, 'serving'],
  [ShardAssignment_Phase.WARMING, 'warming'],
  [ShardAssignment_Phase.DRAINING, 'draining'],
]);

/**
 * Decodes the resource `name` of a delta response. Returns the assignment, or a sentence naming
 * the resource and what is wrong with it (the NACK's error_detail).
 */
export function decodeAssignment(name: string, any: Any | undefined): Assignment | string {
  const where = `assignment ${JSON.stringify(name)}`;
  if (!any) return `${where}: no resource`;
  if (any.typeUrl !== TYPE_URL.assignment) return `${where}: type ${any.typeUrl}, expected ${TYPE_URL.assignment}`;
  let m;
  try {
    m = fromBinary(ShardAssignmentSchema, any.value);
  } catch (err) {
    return `${where}: does not decode as keyway.v1.ShardAssignment: ${err instanceof Error ? err.message : String(err)}`;
  }
  if (name !== String(m.shard)) return `${where}: holds shard ${m.shard}; the name must be the shard in decimal`;
  if (m.shardCount === 0 || m.shard >= m.shardCount) return `${where}: shard ${m.shard} out of range for shard_count ${m.shardCount}`;
  const role = ROLES.get(m.role);
  if (!role) return `${where}: role ${m.role} is not PRIMARY or REPLICA`;
  const phase = PHASES.get(m.phase);
  if (!phase) return `${where}: phase ${m.phase} is not SERVING, WARMING or DRAINING`;
  const until = Number(m.untilUnixMs);
  if (phase !== 'serving' && !(until > 0)) return `${where}: a ${phase.toUpperCase()} assignment needs until_unix_ms`;
  const servingOwners: Peer[] = [];
  for (const [i, p] of m.servingOwners.entries()) {
    if (p.id === '' || p.address === '' || p.port === 0 || p.port > 65535) {
      return `${where}: serving_owners[${i}] needs an id, an address and a port in 1..65535`;
    }
    servingOwners.push(Object.freeze({ id: p.id, address: p.address, port: p.port }));
  }
  // A primary always reads; keyway before the field existed sent no reader flag at all.
  const reader = phase === 'serving' && (role === 'primary' || m.reader);
  return Object.freeze({ shard: m.shard, shardCount: m.shardCount, role, phase, servingOwners: Object.freeze(servingOwners), untilUnixMs: until, reader });
}

/** Field-by-field equality of two assignments (what decides whether `onChange` fires). */
export function sameAssignment(a: Assignment, b: Assignment): boolean {
  return (
    a.shard === b.shard &&
    a.shardCount === b.shardCount &&
    a.role === b.role &&
    a.phase === b.phase &&
    a.untilUnixMs === b.untilUnixMs &&
    a.reader === b.reader &&
    a.servingOwners.length === b.servingOwners.length &&
    a.servingOwners.every((p, i) => {
      const q = b.servingOwners[i]!;
      return p.id === q.id && p.address === q.address && p.port === q.port;
    })
  );
}
