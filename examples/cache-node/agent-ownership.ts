/**
 * The ownership stream as the cache node's ownership source (docs/ownership.md): keyway's agent
 * library (`keyway/agent`, src/agent) holds one stream per keyway replica, tells the node which
 * shards it serves, warms and drains, calls the node's warm-up for each shard it gains and reports
 * warm to every replica when the warm-up resolves.
 *
 * The types below restate the agent's public API (what this file uses of it), so the node builds
 * against that contract and tests can hand in a stand-in agent.
 */
import { createHash } from 'node:crypto';
import type { OwnershipSource } from './ownership-source.js';
import { type NodeOwnership, type PeerNode, type WarmingShard } from './ownership.js';

export type AssignmentRole = 'primary' | 'replica';
export type AssignmentPhase = 'serving' | 'warming' | 'draining';

/** One shard this node is involved with (keyway.v1.ShardAssignment, as the agent exposes it). */
export interface Assignment {
  readonly shard: number;
  readonly shardCount: number;
  readonly role: AssignmentRole;
  readonly phase: AssignmentPhase;
  /** WARMING: the owners to warm from, primary first. */
  readonly servingOwners: readonly PeerNode[];
  /** WARMING: deadline of the route flip; DRAINING: end of the drain; 0 for serving. */
  readonly untilUnixMs: number;
}

/** The options of the agent's constructor that the node passes. */
export interface OwnershipAgentOptions {
  readonly nodeId: string;
  /** Every keyway replica's xDS address, "host:port". */
  readonly servers: readonly string[];
  /** Pre-warms a shard the node is gaining; when it resolves the agent reports warm. */
  readonly warm?: (assignment: Assignment, signal: AbortSignal) => Promise<void>;
  /** After every change of the merged assignments. */
  readonly onChange?: (assignments: ReadonlyMap<number, Assignment>) => void;
  readonly log?: (record: Record<string, unknown>) => void;
}

/** What the node uses of `OwnershipAgent`. */
export interface OwnershipAgentLike {
  start(): void;
  close(): Promise<void>;
  assignments(): ReadonlyMap<number, Assignment>;
  shardCount(): number | undefined;
  connected(): boolean;
  waitForHandoff(timeoutMs: number): Promise<boolean>;
}

export type CreateOwnershipAgent = (opts: OwnershipAgentOptions) => OwnershipAgentLike;

/** The agent library's module, resolved at run time (see {@link loadOwnershipAgent}). */
const AGENT_MODULE = '../../src/agent/index.js';

/**
 * The real agent's constructor, from src/agent. Imported on first use so that a node that polls
 * REST does not load the gRPC stack of the stream.
 * @throws Error naming the module when the agent library is not there
 */
export async function loadOwnershipAgent(): Promise<CreateOwnershipAgent> {
  let mod: { OwnershipAgent?: new (opts: OwnershipAgentOptions) => OwnershipAgentLike };
  try {
    mod = (await import(AGENT_MODULE)) as typeof mod;
  } catch (err) {
    throw new Error(`--keyway-xds needs keyway's agent library (${AGENT_MODULE}): ${(err as Error).message}`, { cause: err });
  }
  const Agent = mod.OwnershipAgent;
  if (typeof Agent !== 'function') throw new Error(`${AGENT_MODULE} does not export OwnershipAgent`);
  return (opts) => new Agent(opts);
}

/**
 * The node's ownership from the agent's merged assignments. `version` is derived from the content
 * (sorted by shard), so the same assignments give the same version on every read.
 */
export function ownershipFromAssignments(assignments: ReadonlyMap<number, Assignment>, shardCount: number): NodeOwnership {
  const primary = new Set<number>();
  const replica = new Set<number>();
  const warming = new Map<number, WarmingShard>();
  const draining = new Map<number, number>();
  const sorted = [...assignments.values()].sort((a, b) => a.shard - b.shard);
  const digest = createHash('sha256').update(String(shardCount));
  for (const a of sorted) {
    digest.update(`|${a.shard}:${a.role}:${a.phase}:${a.untilUnixMs}:${a.servingOwners.map((p) => `${p.id}@${p.address}:${p.port}`).join(',')}`);
    if (a.phase === 'warming') warming.set(a.shard, { servingOwners: a.servingOwners, untilUnixMs: a.untilUnixMs });
    else if (a.phase === 'draining') draining.set(a.shard, a.untilUnixMs);
    else (a.role === 'primary' ? primary : replica).add(a.shard);
  }
  return { version: `stream-${digest.digest('hex').slice(0, 16)}`, shardCount, primary, replica, warming, draining };
}

export interface StreamOwnershipOptions {
  readonly nodeId: string;
  readonly servers: readonly string[];
  readonly warm: (assignment: Assignment, signal: AbortSignal) => Promise<void>;
  /** After each change of the ownership. */
  readonly onChange?: (ownership: NodeOwnership) => void;
  readonly log?: (record: Record<string, unknown>) => void;
  /** Builds the agent (default: the real one, {@link loadOwnershipAgent}). */
  readonly createAgent?: CreateOwnershipAgent;
}

/** The ownership stream as an {@link OwnershipSource}. */
export class StreamOwnershipSource implements OwnershipSource {
  readonly kind = 'stream';
  readonly #agent: OwnershipAgentLike;
  #ownership: NodeOwnership | undefined;
  #lastConnected: number | undefined;

  private constructor(agent: (self: StreamOwnershipSource) => OwnershipAgentLike) {
    this.#agent = agent(this);
  }

  /** Builds the agent (not started: call `start()`). */
  static async create(opts: StreamOwnershipOptions): Promise<StreamOwnershipSource> {
    const createAgent = opts.createAgent ?? (await loadOwnershipAgent());
    return new StreamOwnershipSource((self) =>
      createAgent({
        nodeId: opts.nodeId,
        servers: opts.servers,
        warm: opts.warm,
        onChange: (assignments) => {
          const next = self.#read(assignments);
          if (next) opts.onChange?.(next);
        },
        ...(opts.log ? { log: opts.log } : {}),
      }),
    );
  }

  /** Recomputes the ownership from the agent's assignments; undefined before the first one. */
  #read(assignments: ReadonlyMap<number, Assignment>): NodeOwnership | undefined {
    // The agent may call onChange before its constructor returned: #agent is not set yet then.
    const shardCount = (this.#agent as OwnershipAgentLike | undefined)?.shardCount() ?? [...assignments.values()][0]?.shardCount;
    if (shardCount === undefined) return undefined;
    this.#ownership = ownershipFromAssignments(assignments, shardCount);
    this.#lastConnected = Date.now();
    return this.#ownership;
  }

  current(): NodeOwnership | undefined {
    return this.#ownership;
  }

  /** Now while a stream is up (pushes keep the ownership current), else when one was last seen up. */
  lastUpdate(): number | undefined {
    if (this.#agent.connected()) this.#lastConnected = Date.now();
    return this.#lastConnected;
  }

  start(): void {
    this.#agent.start();
  }

  close(): Promise<void> {
    return this.#agent.close();
  }

  /** The stream pushes every change; "current" means a stream is up. */
  refresh(): Promise<boolean> {
    if (this.#agent.connected()) this.#read(this.#agent.assignments());
    return Promise.resolve(this.#agent.connected());
  }

  waitForHandoff(timeoutMs: number): Promise<boolean> {
    return this.#agent.waitForHandoff(timeoutMs);
  }
}
