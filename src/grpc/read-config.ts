/**
 * The picker's reader of the `keyway.shard_picker` policy config: src/core's contract checks plus
 * those grpc-go's reader (clients/go/shardpicker/config.go) also makes, so that both pickers refuse
 * (and grpc-js-xds and grpc-go NACK) the same configs: a `version` other than 1, a `shardCount`
 * past keyway's limit, `owners` that is not standard base64, an `endpoints` entry that is not
 * `ip:port`, and two entries that name one socket.
 */
import { KeywayError } from '../core/errors.js';
import { MAX_SHARD_COUNT } from '../core/limits.js';
import { parseShardPickerConfig, SHARD_PICKER_POLICY, type ShardPickerConfig } from '../core/shard-picker.js';
import { canonicalAddress } from './endpoint-address.js';

/** The contract version this reader implements; a config without `version` is version 1. */
const CONTRACT_VERSION = 1;

// Standard alphabet, padded (what Go's base64.StdEncoding takes; it skips CR and LF too): with a
// length that is a multiple of 4, the last group is XXXX, XXX= or XX==. Not a regex repeating
// 4-character groups: V8 keeps one backtrack entry per group, and past about 4.4 MB of owners (a
// valid table, e.g. S = 2^20 at R = 3) the test threw RangeError instead of reading the config.
const BASE64_CHARS = /^[A-Za-z0-9+/]*={0,2}$/;
const isBase64 = (s: string): boolean => s.length % 4 === 0 && BASE64_CHARS.test(s);

/**
 * Validates the JSON of a `keyway.shard_picker` policy (the TypedStruct's Struct) as the pickers do.
 * @throws KeywayError BAD_ARGUMENT whose field is `keyway.shard_picker.<field>`
 */
export function readShardPickerConfig(json: unknown): ShardPickerConfig {
  if (typeof json === 'object' && json !== null && !Array.isArray(json)) {
    const o = json as Record<string, unknown>;
    const version = o['version'];
    // A newer contract may change what the fields mean: reading it as version 1 would misroute.
    if (version !== undefined && version !== null && version !== CONTRACT_VERSION) {
      throw bad('version', `must be ${CONTRACT_VERSION} (the version this client implements), got ${JSON.stringify(version) ?? typeof version}`);
    }
    const shardCount = o['shardCount'];
    if (typeof shardCount === 'number' && shardCount > MAX_SHARD_COUNT) {
      throw bad('shardCount', `must be an integer from 1 to ${MAX_SHARD_COUNT}, got ${shardCount}`);
    }
    const owners = o['owners'];
    if (typeof owners === 'string' && !isBase64(owners.replace(/[\r\n]/g, ''))) {
      throw bad('owners', 'is not standard base64 (A-Z a-z 0-9 + /, padded with =)');
    }
  }
  const config = parseShardPickerConfig(json);
  const seen = new Map<string, number>();
  config.endpoints.forEach((e, i) => {
    const address = canonicalAddress(e);
    if (address === undefined) throw bad(`endpoints[${i}]`, `must be ip:port or [ip6]:port, got ${JSON.stringify(e)}`);
    const first = seen.get(address);
    // Two entries for one socket: owner indexes would name one connection under two numbers.
    if (first !== undefined) throw bad(`endpoints[${i}]`, `${JSON.stringify(e)} is the same socket as endpoints[${first}]`);
    seen.set(address, i);
  });
  return config;
}

function bad(field: string, message: string): KeywayError {
  return new KeywayError('BAD_ARGUMENT', `shard picker config ${field} ${message}`, { field: `${SHARD_PICKER_POLICY}.${field}` });
}
