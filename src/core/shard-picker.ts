/**
 * The shard-picker contract, version 1 (docs/xds.md "The shard picker"): what keyway's translator
 * puts in the `keyway.shard_picker` load-balancing policy of the one picker cluster, and what the
 * pickers (keyway/grpc for grpc-js, clients/go for grpc-go) read back. One file so the writer and
 * the TypeScript reader cannot drift apart; the Go reader follows docs/xds.md.
 */
import { KeywayError } from './errors.js';

/** Name of the policy in CDS `load_balancing_policy` and in grpc-js's load-balancer registry. */
export const SHARD_PICKER_POLICY = 'keyway.shard_picker';
/** The TypedStruct `type_url` that carries the config (gRFC A52 custom policies). */
export const SHARD_PICKER_TYPE_URL = 'type.googleapis.com/keyway.shard_picker';
/** Bootstrap `node.metadata` key a client sets to say it carries the picker, and the value for version 1. */
export const SHARD_PICKER_METADATA_KEY = 'keyway.shard_picker';
export const SHARD_PICKER_VERSION = 'v1';
/** An `owners` entry that names no endpoint: the shard has fewer owners than the table's ranks. */
export const NO_OWNER = 0xffff;
/**
 * Endpoints one table can index: owner entries are 16-bit and 0xFFFF means none. keyway's work
 * budget (docs/security.md "Work budget") keeps topologies far below it; the translator checks anyway.
 */
export const MAX_PICKER_ENDPOINTS = NO_OWNER;

export type MissingHeaderMode = 'any' | 'reject';

/** The policy config as JSON (a google.protobuf.Struct inside the TypedStruct). */
export interface ShardPickerConfig {
  readonly shardCount: number;
  readonly shardHeader: string;
  /** The header whose value is hashed (hash contract 1) when the shard header is absent; '' for none. */
  readonly keyHeader: string;
  readonly missingHeader: MissingHeaderMode;
  /** `ip:port` (`[ip6]:port`) of every serving endpoint, sorted; the EDS addresses. */
  readonly endpoints: readonly string[];
  /** Base64 of a little-endian Uint16Array of shardCount x R endpoint indexes, primary first. */
  readonly owners: string;
  /**
   * Hot shards (docs/hot-shards.md), optional: pairs `[shard, k, shard, k, ...]`, shards ascending,
   * k >= 2: the shard's first k owners share its calls, weighted by `weights`. Absent: the primary
   * alone. A picker that predates it ignores it and sends every call to the primary.
   */
  readonly readers?: readonly number[];
  /** With `readers`: each endpoint's load-balancing weight, in `endpoints` order (> 0). */
  readonly weights?: readonly number[];
}

/** The decoded owner table: `table[s * replicas + k]` is shard s's k-th owner (index into endpoints) or NO_OWNER. */
export interface OwnerTable {
  readonly replicas: number;
  readonly table: Uint16Array;
  /** Hot shards: shard -> how many of its first owners share its calls (>= 2). */
  readonly readers?: ReadonlyMap<number, number>;
  /** Endpoint weights for the spread, by endpoint index; absent: equal. */
  readonly weights?: readonly number[];
}

/** Encodes hot-shard readers (shard -> k, k >= 2) as the config's `readers` pairs, shards ascending. */
export function encodeReaders(readers: ReadonlyMap<number, number>): number[] {
  return [...readers.entries()].filter(([, k]) => k > 1).sort((a, b) => a[0] - b[0]).flat();
}

/** Encodes `owners[shard]` (endpoint indexes, primary first) as the config's `owners`, R = `replicas` ranks per shard. */
export function encodeOwners(owners: readonly (readonly number[])[], replicas: number): string {
  const bytes = Buffer.alloc(owners.length * replicas * 2);
  owners.forEach((list, shard) => {
    for (let k = 0; k < replicas; k++) bytes.writeUInt16LE(list[k] ?? NO_OWNER, (shard * replicas + k) * 2);
  });
  return bytes.toString('base64');
}

/** Decodes and checks a config's `owners` against its shard and endpoint counts. */
export function decodeOwners(config: Pick<ShardPickerConfig, 'owners' | 'shardCount' | 'endpoints' | 'readers' | 'weights'>): OwnerTable {
  const bytes = Buffer.from(config.owners, 'base64');
  const entries = bytes.length / 2;
  if (config.shardCount === 0 || !Number.isInteger(entries) || entries % config.shardCount !== 0) {
    throw bad('owners', `holds ${bytes.length} bytes, not 2 x shardCount (${config.shardCount}) x R`);
  }
  const table = new Uint16Array(entries);
  for (let i = 0; i < entries; i++) {
    const v = bytes.readUInt16LE(i * 2);
    if (v !== NO_OWNER && v >= config.endpoints.length) throw bad('owners', `entry ${i} names endpoint ${v} of ${config.endpoints.length}`);
    table[i] = v;
  }
  const replicas = entries / config.shardCount;
  // Checked with or without readers: the Go reader refuses bad weights either way, and the two
  // pickers must refuse the same configs.
  const weights = config.weights;
  if (weights !== undefined && (weights.length !== config.endpoints.length || !weights.every((w) => Number.isFinite(w) && w > 0))) {
    throw bad('weights', `must hold one positive weight per endpoint (${config.endpoints.length})`);
  }
  if (config.readers === undefined) return { replicas, table };
  const readers = new Map<number, number>();
  const pairs = config.readers;
  if (pairs.length % 2 !== 0) throw bad('readers', 'does not hold [shard, readers] pairs');
  for (let i = 0; i < pairs.length; i += 2) {
    const shard = pairs[i]!;
    const k = pairs[i + 1]!;
    if (!Number.isInteger(shard) || shard < 0 || shard >= config.shardCount) throw bad('readers', `pair ${i / 2} names shard ${shard} outside [0, ${config.shardCount})`);
    if (!Number.isInteger(k) || k < 2 || k > replicas) throw bad('readers', `pair ${i / 2} gives shard ${shard} ${k} readers, not 2..${replicas}`);
    readers.set(shard, k);
  }
  return { replicas, table, readers, ...(weights ? { weights } : {}) };
}

/** Validates the JSON of a `keyway.shard_picker` policy (what the TypedStruct's Struct holds). */
export function parseShardPickerConfig(json: unknown): ShardPickerConfig {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw bad('', 'is not an object');
  const o = json as Record<string, unknown>;
  const shardCount = o['shardCount'];
  if (typeof shardCount !== 'number' || !Number.isInteger(shardCount) || shardCount < 1) throw bad('shardCount', 'is not a positive integer');
  const text = (field: string): string => {
    const v = o[field] ?? '';
    if (typeof v !== 'string') throw bad(field, 'is not a string');
    return v;
  };
  const shardHeader = text('shardHeader');
  if (shardHeader === '') throw bad('shardHeader', 'is empty');
  const missingHeader = text('missingHeader') || 'reject';
  if (missingHeader !== 'any' && missingHeader !== 'reject') throw bad('missingHeader', `is ${JSON.stringify(missingHeader)}, not "any" or "reject"`);
  const endpoints = o['endpoints'];
  if (!Array.isArray(endpoints) || !endpoints.every((e) => typeof e === 'string')) throw bad('endpoints', 'is not a list of strings');
  if (endpoints.length > MAX_PICKER_ENDPOINTS) throw bad('endpoints', `lists ${endpoints.length}, more than ${MAX_PICKER_ENDPOINTS}`);
  const config: ShardPickerConfig = {
    shardCount,
    shardHeader: shardHeader.toLowerCase(),
    keyHeader: text('keyHeader').toLowerCase(),
    missingHeader,
    endpoints: endpoints as string[],
    owners: text('owners'),
    ...numbers(o, 'readers'),
    ...numbers(o, 'weights'),
  };
  decodeOwners(config); // fails here, at config time, rather than on the first call
  return config;
}

/** An optional list of numbers, as `{ [field]: list }` (empty object when absent). */
function numbers(o: Record<string, unknown>, field: 'readers' | 'weights'): { readers?: number[] } | { weights?: number[] } {
  const v = o[field];
  if (v === undefined || v === null) return {};
  if (!Array.isArray(v) || !v.every((x) => typeof x === 'number')) throw bad(field, 'is not a list of numbers');
  return { [field]: v as number[] };
}

/** BAD_ARGUMENT at `keyway.shard_picker.<field>` (the config itself when `field` is ''). */
function bad(field: string, message: string): KeywayError {
  const subject = field === '' ? 'shard picker config' : `shard picker config ${field}`;
  return new KeywayError('BAD_ARGUMENT', `${subject} ${message}`, {
    field: field === '' ? SHARD_PICKER_POLICY : `${SHARD_PICKER_POLICY}.${field}`,
  });
}
