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
}

/** The decoded owner table: `table[s * replicas + k]` is shard s's k-th owner (index into endpoints) or NO_OWNER. */
export interface OwnerTable {
  readonly replicas: number;
  readonly table: Uint16Array;
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
export function decodeOwners(config: Pick<ShardPickerConfig, 'owners' | 'shardCount' | 'endpoints'>): OwnerTable {
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
  return { replicas: entries / config.shardCount, table };
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
  };
  decodeOwners(config); // fails here, at config time, rather than on the first call
  return config;
}

/** BAD_ARGUMENT at `keyway.shard_picker.<field>` (the config itself when `field` is ''). */
function bad(field: string, message: string): KeywayError {
  const subject = field === '' ? 'shard picker config' : `shard picker config ${field}`;
  return new KeywayError('BAD_ARGUMENT', `${subject} ${message}`, {
    field: field === '' ? SHARD_PICKER_POLICY : `${SHARD_PICKER_POLICY}.${field}`,
  });
}
