/**
 * Where the cache node learns its shards: keyway's REST shard map, polled (shardmap-poller.ts), or
 * the ownership stream through keyway's agent library (agent-ownership.ts, docs/ownership.md). The
 * server reads either through this interface, so the rest of the node does not care which.
 */
import type { NodeOwnership } from './ownership.js';

export interface OwnershipSource {
  /** `rest`: polls `GET /v1/shardmap`; `stream`: the ownership stream over xDS. */
  readonly kind: 'rest' | 'stream';
  /** The ownership in force, or undefined before the first one arrived. */
  current(): NodeOwnership | undefined;
  /** Epoch ms when the node last knew its ownership to be current (last good poll; stream up). */
  lastUpdate(): number | undefined;
  start(): void;
  /** Stops polling or closes the streams. */
  close(): Promise<void>;
  /** Asks keyway now where it can (REST: one poll); resolves true when the ownership is current. */
  refresh(): Promise<boolean>;
  /**
   * Resolves true once keyway routes no shard to this node any more (every shard it had is handed
   * off: draining or gone), false when `timeoutMs` passes first: what a preStop hook waits for.
   */
  waitForHandoff(timeoutMs: number): Promise<boolean>;
  /**
   * Counts a served request for `shard` in the node's load reports as `units` (default 1; more
   * when the node reports work: docs/load-reports.md "What a node counts"). Stream only.
   */
  recordRequest?(shard: number, units?: number): void;
}
