/**
 * Which shards this node owns. Two sources fill the same shape: keyway's REST shard map
 * (`GET /v1/shardmap`, the public contract of docs/api: `{version, shardCount, shards: [{shard,
 * owners: [id, ...]}], endpoints}`, owners primary first), parsed here; and the ownership stream
 * (docs/ownership.md), whose assignments agent-ownership.ts turns into it. Pure.
 */

export interface NodeLocality {
  readonly region: string;
  readonly zone: string;
  readonly subzone: string;
}

export interface NodeOwnership {
  readonly version: string;
  readonly shardCount: number;
  /** Shards this node leads. */
  readonly primary: ReadonlySet<number>;
  /** Shards this node holds as a replica. */
  readonly replica: ReadonlySet<number>;
  /**
   * The replica shards whose requests reach this node while it is healthy: it is one of the first
   * `readers` owners of a hot shard spread over several (docs/hot-shards.md). The other replicas
   * only back up, so the node keeps no L1 entries for them once it stops reading them.
   */
  readonly readingReplica: ReadonlySet<number>;
  /** This node's locality as keyway knows it; undefined when keyway does not list the node. */
  readonly locality?: NodeLocality;
  /**
   * Shards this node is gaining (ownership stream, phase WARMING): not routed here yet, admitted
   * to L1 because they are being warmed. The REST shard map does not say, so it leaves this out.
   */
  readonly warming?: ReadonlyMap<number, WarmingShard>;
  /**
   * Shards this node is losing (phase DRAINING), with the epoch ms until which it keeps serving
   * them. Their L1 entries go to L2 when the drain begins: few requests still come, and GPU memory
   * is worth more to the shards routed here.
   */
  readonly draining?: ReadonlyMap<number, number>;
}

/** A cache node keyway names as a current owner of a shard (the ownership stream's `Peer`). */
export interface PeerNode {
  readonly id: string;
  readonly address: string;
  readonly port: number;
}

/** A shard this node warms: from whom, and until when the route waits for it. */
export interface WarmingShard {
  /** The owners requests go to now, primary first: the peers to copy the shard's hot entries from. */
  readonly servingOwners: readonly PeerNode[];
  /** Epoch ms when the route flips even without a warm report. */
  readonly untilUnixMs: number;
}

/** `true`: this node owns the shard; `false`: it does not; `unknown`: no shard map yet, or no shard. */
export type OwnerLabel = 'true' | 'false' | 'unknown';

/**
 * Extracts `nodeId`'s shards from a `/v1/shardmap` body.
 * @throws Error naming the field when the body does not have the contract's shape
 */
export function ownershipFromShardMap(body: unknown, nodeId: string): NodeOwnership {
  const b = body as { version?: unknown; shardCount?: unknown; shards?: unknown; endpoints?: unknown };
  if (typeof b !== 'object' || b === null) throw new Error('shard map: the body is not a JSON object');
  if (typeof b.version !== 'string') throw new Error('shard map: "version" must be a string');
  if (typeof b.shardCount !== 'number' || !Number.isSafeInteger(b.shardCount) || b.shardCount < 1) {
    throw new Error('shard map: "shardCount" must be an integer >= 1');
  }
  if (!Array.isArray(b.shards)) throw new Error('shard map: "shards" must be an array');
  const primary = new Set<number>();
  const replica = new Set<number>();
  const readingReplica = new Set<number>();
  b.shards.forEach((entry: unknown, i: number) => {
    const e = entry as { shard?: unknown; owners?: unknown; readers?: unknown };
    if (typeof e?.shard !== 'number' || !Array.isArray(e.owners)) throw new Error(`shard map: shards[${i}] must be {shard, owners}`);
    // `readers` is listed only above 1 (a spread hot shard); otherwise the primary alone reads.
    const readers = typeof e.readers === 'number' ? e.readers : 1;
    const at = e.owners.indexOf(nodeId);
    if (at === 0) primary.add(e.shard);
    else if (at > 0) replica.add(e.shard);
    if (at > 0 && at < readers) readingReplica.add(e.shard);
  });
  let locality: NodeLocality | undefined;
  if (Array.isArray(b.endpoints)) {
    const me = (b.endpoints as { id?: unknown; locality?: Partial<NodeLocality> }[]).find((x) => x?.id === nodeId);
    if (me?.locality) locality = { region: me.locality.region ?? '', zone: me.locality.zone ?? '', subzone: me.locality.subzone ?? '' };
  }
  return { version: b.version, shardCount: b.shardCount, primary, replica, readingReplica, ...(locality ? { locality } : {}) };
}

/**
 * Whether this node owns `shard` under `ownership`: it serves it (primary or replica), warms it, or
 * drains it and `now` (epoch ms) is before the drain's end (the `owner` label of the node's metrics).
 */
export function ownerLabel(ownership: NodeOwnership | undefined, shard: number | undefined, now: number = Date.now()): OwnerLabel {
  if (!ownership || shard === undefined) return 'unknown';
  if (servesOrWarms(ownership, shard)) return 'true';
  const until = ownership.draining?.get(shard);
  return until !== undefined && now < until ? 'true' : 'false';
}

/**
 * Whether a request for `shard` may fill L1 (docs/ownership.md, phases): the node serves the shard
 * (a backup replica too, for when the readers are down) or warms it, or it has no shard map yet.
 * A shard it only drains is served from L2, and a shard it does not own never enters L1.
 */
export function admitsToL1(ownership: NodeOwnership | undefined, shard: number | undefined): boolean {
  return !ownership || shard === undefined || servesOrWarms(ownership, shard);
}

function servesOrWarms(ownership: NodeOwnership, shard: number): boolean {
  return ownership.primary.has(shard) || ownership.replica.has(shard) || (ownership.warming?.has(shard) ?? false);
}

/** The shards this node serves: primary and replica (what a drain waits to reach zero). */
export function servedShards(ownership: NodeOwnership | undefined): number {
  return ownership ? ownership.primary.size + ownership.replica.size : 0;
}
