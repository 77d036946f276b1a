/**
 * The endpoint picker's decision for one request (docs/gateways.md "What keyway answers"): which
 * shard the request names, from `x-cache-shard` or the key header exactly as keyway's Envoy
 * routes read them (docs/xds.md "Key to shard in Envoy"), and the shard's owners, primary first
 * (a hot shard's readers taking turns in front), narrowed to the gateway's subset hint. A key header
 * named `*-bin` is gRPC binary metadata: its base64 is decoded and the bytes hashed, as the shard
 * pickers hash them (docs/hashing.md). Pure: the same table, request and rotation give the same
 * answer on every replica.
 */
import { keyBytesToShard, keyToShard } from '../sharding/key-to-shard.js';
import { badBinaryKeyMessage, badShardMessage, missingShardMessage, repeatedKeyMessage, SHARD_HEADER } from '../xds/translator/index.js';
import type { PickTable } from './pick-table.js';
import type { SubsetHint } from './subset-hint.js';

/** Where the request goes, or the status the gateway answers with itself. */
export type PickDecision =
  | {
      readonly kind: 'route';
      /** The shard the request named; undefined when it named none (missingHeader `any`). */
      readonly shard: number | undefined;
      /** The candidates in order, `ip:port`; the gateway takes the first reachable one. Never empty. */
      readonly endpoints: readonly string[];
    }
  /** 400: a malformed shard number, a repeated key header, a `-bin` key header that is not base64 (or no shard at all under missingHeader `reject`). */
  | { readonly kind: 'bad-request'; readonly status: 400; readonly message: string }
  /** 503: no owner of the shard is eligible (none at all, or none in the subset hint). */
  | { readonly kind: 'unavailable'; readonly status: 503; readonly message: string };

/** A header value: text, or the raw bytes Envoy sent (`raw_value`), which are what keyway's Lua filter hashes. */
export type HeaderText = string | Uint8Array;

const latin1 = new TextDecoder('latin1');

/**
 * The candidates of a request naming no shard (missingHeader `any`): only the first few can be
 * tried (the first reachable one, then one per retry), and the whole pool in the header broke
 * requests: 1200 endpoints made an 18 KB `x-gateway-destination-endpoint`, which upstreams refuse
 * (Node 431 past 16 KiB, nginx 400 past 8 KiB).
 */
export const MAX_ANY_CANDIDATES = 16;

/** A shard number as keyway's Envoy filter accepts it: canonical decimal, no sign, no leading zero. */
const CANONICAL_SHARD = /^(0|[1-9][0-9]{0,9})$/;

/**
 * Decides one request (the endpoint picker protocol's "Destination Endpoint"). `header(name)` gives
 * every value of a request header (lowercase name), undefined when absent. `rotation` spreads
 * requests that name no shard over the eligible endpoints, and a hot shard's requests over its
 * readers by weight (any counter; its value never changes which shard goes where). `subset`, when
 * the gateway sent one, is the only set picked from.
 */
export function pickEndpoints(
  table: PickTable,
  header: (name: string) => readonly HeaderText[] | undefined,
  subset: SubsetHint | undefined,
  rotation = 0,
): PickDecision {
  const shardValues = header(SHARD_HEADER);
  let shard: number | undefined;
  if (shardValues !== undefined) {
    const only = shardValues.length === 1 ? shardValues[0]! : '';
    // Any byte outside ASCII fails the pattern, whatever the decoding.
    const raw = typeof only === 'string' ? only : latin1.decode(only);
    shard = CANONICAL_SHARD.test(raw) ? Number(raw) : NaN;
    if (!(shard < table.shardCount)) return badRequest(badShardMessage(table.shardCount));
  } else {
    const keys = header(table.keyHeader);
    if (keys !== undefined) {
      if (keys.length !== 1) return badRequest(repeatedKeyMessage(table.keyHeader));
      const key = binaryHeader(table.keyHeader) ? decodeBinaryValue(keys[0]!) : keys[0]!;
      if (key === undefined) return badRequest(badBinaryKeyMessage(table.keyHeader));
      shard = typeof key === 'string' ? keyToShard(key, table.shardCount) : keyBytesToShard(key, table.shardCount);
    } else if (table.missingHeader === 'reject') {
      return badRequest(missingShardMessage(table.shardCount, table.keyHeader));
    }
  }
  if (shard === undefined) {
    const all = subset ? table.eligible.filter((e) => subset.allows(e)) : table.eligible;
    if (all.length === 0) return unavailable(subset ? 'no eligible endpoint is in the subset hint\n' : 'no endpoint is eligible\n');
    // A rotated window: the first choice moves over every eligible endpoint; the rest are for retries.
    const start = rotation % all.length;
    const n = Math.min(all.length, MAX_ANY_CANDIDATES);
    const endpoints = start + n <= all.length ? all.slice(start, start + n) : [...all.slice(start), ...all.slice(0, start + n - all.length)];
    return { kind: 'route', shard, endpoints };
  }
  const owners = table.owners(shard);
  const readers = table.readerWeights(shard);
  const ordered = readers ? readerFirst(owners, readers, rotation) : owners;
  const endpoints = subset ? ordered.filter((e) => subset.allows(e)) : ordered;
  if (endpoints.length === 0) {
    return unavailable(owners.length === 0 ? `shard ${shard} has no owner\n` : `no owner of shard ${shard} is in the subset hint\n`);
  }
  return { kind: 'route', shard, endpoints };
}

/** A `-bin` header is gRPC binary metadata: base64 on the wire, the decoded bytes its value. */
function binaryHeader(name: string): boolean {
  return name.endsWith('-bin');
}

// Standard alphabet, padded (grpc-js writes `=`) or not (grpc-go writes none), nothing else: no
// blanks, no URL-safe letters, no `,` (a comma means values joined, which are no one key).
const BASE64 = /^[A-Za-z0-9+/]*$/;

/**
 * The bytes of a binary metadata value, as the shard pickers receive them from gRPC (which decodes
 * before they see it): hashing the base64 text instead put one key on other shards than the
 * pickers, and on two shards for grpc-js (padded) and grpc-go (unpadded) clients. Undefined when the
 * value is not base64. Hash contract 1's rule for a `-bin` key (docs/hashing.md), which the Lua
 * filter's decoder must match byte for byte (exported for that comparison).
 */
export function decodeBinaryValue(value: HeaderText): Uint8Array | undefined {
  const text = typeof value === 'string' ? value : latin1.decode(value);
  const body = text.endsWith('==') ? text.slice(0, -2) : text.endsWith('=') ? text.slice(0, -1) : text;
  // Padding makes a multiple of 4; unpadded, a length of 1 mod 4 holds no whole byte.
  if (body.length !== text.length && text.length % 4 !== 0) return undefined;
  if (body.length % 4 === 1 || !BASE64.test(body)) return undefined;
  return Buffer.from(body, 'base64');
}

/** The golden ratio's fraction: `frac(n * PHI)` spreads consecutive counters evenly over [0, 1). */
const PHI = 0.6180339887498949;

/**
 * A hot shard's owners with one of its first `weights.length` owners (its readers) moved to the
 * front, chosen by weight from the rotation counter, as Envoy's subset load balancer and the shard
 * picker spread a hot shard; the rest keep their order, primary first, for retries.
 */
function readerFirst(owners: readonly string[], weights: readonly number[], rotation: number): readonly string[] {
  const total = weights.reduce((a, b) => a + b, 0);
  let x = ((rotation * PHI) % 1) * total;
  let i = 0;
  while (i < weights.length - 1 && (x >= weights[i]! || weights[i] === 0)) x -= weights[i++]!;
  if (i === 0 || i >= owners.length) return owners;
  return [owners[i]!, ...owners.slice(0, i), ...owners.slice(i + 1)];
}

function badRequest(message: string): PickDecision {
  return { kind: 'bad-request', status: 400, message };
}

function unavailable(message: string): PickDecision {
  return { kind: 'unavailable', status: 503, message };
}
