/**
 * The ownership stream as the cache node's ownership source (docs/ownership.md): keyway's agent
 * library (`keyway/agent`, src/agent) holds one stream per keyway replica, tells the node which
 * shards it serves, warms and drains, calls the node's warm-up for each shard it gains and reports
 * warm to every replica when the warm-up resolves.
 */
import { createHash } from 'node:crypto';
import { OwnershipAgent, type Assignment, type OwnershipAgentOptions } from '../../src/agent/index.js';
import type { OwnershipSource } from './ownership-source.js';
import { type NodeOwnership, type WarmingShard } from './ownership.js';

export type { Assignment, OwnershipAgentOptions };

/** What the node uses of {@link OwnershipAgent}: tests hand in a stand-in with the same methods. */
export type OwnershipAgentLike = Pick<OwnershipAgent, 'start' | 'close' | 'assignments' | 'shardCount' | 'connected' | 'waitForHandoff'> &
  Partial<Pick<OwnershipAgent, 'recordRequest' | 'lastConnectedMs'>>;

export type CreateOwnershipAgent = (opts: OwnershipAgentOptions) => OwnershipAgentLike;

/** keyway's agent. */
export const createOwnershipAgent: CreateOwnershipAgent = (opts) => new OwnershipAgent(opts);

/**
 * The node's ownership from the agent's merged assignments. `version` is derived from the content
 * (sorted by shard), so the same assignments give the same version on every read.
 */
export function ownershipFromAssignments(assignments: ReadonlyMap<number, Assignment>, shardCount: number): NodeOwnership {
  const primary = new Set<number>();
  const replica = new Set<number>();
  const readingReplica = new Set<number>();
  const warming = new Map<number, WarmingShard>();
  const draining = new Map<number, number>();
  const sorted = [...assignments.values()].sort((a, b) => a.shard - b.shard);
  const digest = createHash('sha256').update(String(shardCount));
  for (const a of sorted) {
    digest.update(`|${a.shard}:${a.role}:${a.phase}:${a.untilUnixMs}:${a.reader}:${a.servingOwners.map((p) => `${p.id}@${p.address}:${p.port}`).join(',')}`);
    if (a.phase === 'warming') warming.set(a.shard, { servingOwners: a.servingOwners, untilUnixMs: a.untilUnixMs });
    else if (a.phase === 'draining') draining.set(a.shard, a.untilUnixMs);
    else (a.role === 'primary' ? primary : replica).add(a.shard);
    if (a.phase === 'serving' && a.role === 'replica' && a.reader) readingReplica.add(a.shard);
  }
  return { version: `stream-${digest.digest('hex').slice(0, 16)}`, shardCount, primary, replica, readingReplica, warming, draining };
}

export interface StreamOwnershipOptions {
  readonly nodeId: string;
  readonly servers: readonly string[];
  readonly warm: (assignment: Assignment, signal: AbortSignal) => Promise<void>;
  /** After each change of the ownership. */
  readonly onChange?: (ownership: NodeOwnership) => void;
  readonly log?: (record: Record<string, unknown>) => void;
  /** Builds the agent (default: keyway's, {@link createOwnershipAgent}). */
  readonly createAgent?: CreateOwnershipAgent;
  /** The load window of the node's load reports (keyway's `hotShards.windowMs`); default the agent's. */
  readonly loadWindowMs?: number;
}

/** The ownership stream as an {@link OwnershipSource}. */
export class StreamOwnershipSource implements OwnershipSource {
  readonly kind = 'stream';
  readonly #agent: OwnershipAgentLike;
  #ownership: NodeOwnership | undefined;
  #lastConnected: number | undefined;
  /** S from the last assignment seen: an empty set of assignments does not carry it. */
  #shardCount: number | undefined;

  private constructor(agent: (self: StreamOwnershipSource) => OwnershipAgentLike) {
    this.#agent = agent(this);
  }

  /** Builds the agent (not started: call `start()`). */
  static create(opts: StreamOwnershipOptions): StreamOwnershipSource {
    const createAgent = opts.createAgent ?? createOwnershipAgent;
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
        ...(opts.loadWindowMs !== undefined ? { timing: { loadWindowMs: opts.loadWindowMs } } : {}),
      }),
    );
  }

  /**
   * Recomputes the ownership from the agent's assignments; undefined (nothing changes) before the
   * first one, and when the agent dropped a server that has been down too long: keyway is then
   * unreachable, and the node keeps its last ownership as Envoy keeps its last routes. An empty set
   * from a connected server means keyway routes nothing here any more: the node owns nothing.
   */
  #read(assignments: ReadonlyMap<number, Assignment>): NodeOwnership | undefined {
    // The agent may call onChange before its constructor returned: #agent is not set yet then.
    const agent = this.#agent as OwnershipAgentLike | undefined;
    const shardCount = agent?.shardCount() ?? [...assignments.values()][0]?.shardCount ?? this.#shardCount;
    if (shardCount === undefined) return undefined;
    if (assignments.size === 0 && agent && !agent.connected()) return undefined;
    this.#shardCount = shardCount;
    this.#ownership = ownershipFromAssignments(assignments, shardCount);
    this.#lastConnected = Date.now();
    return this.#ownership;
  }

  current(): NodeOwnership | undefined {
    return this.#ownership;
  }

  /** Now while a stream is up (pushes keep the ownership current), else when one was last up. */
  lastUpdate(): number | undefined {
    const agentSays = this.#agent.lastConnectedMs?.();
    if (agentSays !== undefined) return agentSays;
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

  /** Counts a request for `shard` as `units` in the agent's load report (docs/load-reports.md). */
  recordRequest(shard: number, units = 1): void {
    this.#agent.recordRequest?.(shard, units);
  }
}
