/**
 * The shard-picker contract's pick rules (docs/xds.md "The shard picker"), apart from grpc-js so
 * they can be tested alone: which shard a call is for, from its metadata, and which of the
 * shard's owners takes it, from their connectivity.
 */
import { keyBytesToShard, keyToShard } from '../sharding/key-to-shard.js';
import { NO_OWNER, type OwnerTable, type ShardPickerConfig } from '../core/shard-picker.js';

/** What a call asks for: one shard, any endpoint (no header, missingHeader any), or an error to return. */
export type ShardChoice =
  | { readonly kind: 'shard'; readonly shard: number }
  | { readonly kind: 'any' }
  | { readonly kind: 'invalid'; readonly message: string };

/** One metadata value: text, or bytes for a binary (`-bin`) key. */
export type MetadataValue = string | Uint8Array;

// The form Envoy's shard route and keyway's endpoint picker take (docs/xds.md): no sign, no
// leading zero. A picker that read "007" as 7 would route where Envoy answers 400.
const CANONICAL_SHARD = /^(0|[1-9][0-9]{0,9})$/;

/**
 * The shard of a call: the shard header (canonical decimal in [0, S), sent once), else hash
 * contract 1 of the key header (sent once), else `missingHeader` (any endpoint, or an error), the
 * rules Envoy's routes and the endpoint picker apply too. `header(name)` gives a metadata key's
 * values (or its only value), undefined when absent; a binary (`-bin`) key's bytes are hashed as
 * they are (what grpc-go's picker hashes).
 */
export function chooseShard(config: ShardPickerConfig, header: (name: string) => MetadataValue | readonly MetadataValue[] | undefined): ShardChoice {
  const shardValue = onlyValue(config.shardHeader, header(config.shardHeader));
  if (shardValue !== undefined) {
    if ('kind' in shardValue) return shardValue;
    const { value } = shardValue;
    const raw = typeof value === 'string' ? value : Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('latin1');
    const shard = CANONICAL_SHARD.test(raw) ? Number(raw) : NaN;
    if (!(shard < config.shardCount)) {
      return { kind: 'invalid', message: `${config.shardHeader} is ${JSON.stringify(raw)}, not a shard number in [0, ${config.shardCount})` };
    }
    return { kind: 'shard', shard };
  }
  const key = config.keyHeader === '' ? undefined : onlyValue(config.keyHeader, header(config.keyHeader));
  if (key !== undefined) {
    if ('kind' in key) return key;
    const { value } = key;
    return { kind: 'shard', shard: typeof value === 'string' ? keyToShard(value, config.shardCount) : keyBytesToShard(value, config.shardCount) };
  }
  if (config.missingHeader === 'any') return { kind: 'any' };
  const names = config.keyHeader === '' ? config.shardHeader : `${config.shardHeader} or ${config.keyHeader}`;
  return { kind: 'invalid', message: `the call carries no ${names} metadata` };
}

/** A header's one value; a header sent more than once is an error (which value would win differs between data planes). */
function onlyValue(name: string, values: MetadataValue | readonly MetadataValue[] | undefined): { value: MetadataValue } | ShardChoice | undefined {
  if (values === undefined) return undefined;
  if (typeof values === 'string' || values instanceof Uint8Array) return { value: values };
  if (values.length === 0) return undefined;
  if (values.length === 1) return { value: values[0]! };
  return { kind: 'invalid', message: `${name} must be sent once, got ${values.length} values` };
}

/** An owner's connectivity as the picker sees it; `pending` is an owner not (yet) among the EDS endpoints. */
export type OwnerState = 'ready' | 'connecting' | 'down' | 'pending';

/** Which owner takes the call: an endpoint index, wait for a connection, or fail with UNAVAILABLE. */
export type OwnerChoice =
  | { readonly kind: 'owner'; readonly endpoint: number }
  | { readonly kind: 'queue' }
  | { readonly kind: 'unavailable'; readonly message: string };

/**
 * The first owner of `shard` (primary, then replicas by rank) that is READY. None ready but one
 * still connecting (or announced by CDS before EDS lists it): wait. Otherwise UNAVAILABLE.
 * A hot shard read by k owners (the table's `readers`, docs/hot-shards.md) goes to one of its first
 * k owners that is READY, drawn by weight with `random` in [0, 1); none of them READY: the rule above.
 */
export function chooseOwner(owners: OwnerTable, shard: number, state: (endpoint: number) => OwnerState, random: () => number = Math.random): OwnerChoice {
  const k = Math.min(owners.readers?.get(shard) ?? 1, owners.replicas);
  if (k > 1) {
    const ready: number[] = [];
    let total = 0;
    for (let i = 0; i < k; i++) {
      const e = owners.table[shard * owners.replicas + i]!;
      if (e === NO_OWNER || state(e) !== 'ready') continue;
      ready.push(e);
      total += owners.weights?.[e] ?? 1;
    }
    let x = random() * total;
    for (const e of ready) {
      x -= owners.weights?.[e] ?? 1;
      if (x < 0) return { kind: 'owner', endpoint: e };
    }
    if (ready.length > 0) return { kind: 'owner', endpoint: ready[ready.length - 1]! };
  }
  let waiting = false;
  let any = false;
  for (let k = 0; k < owners.replicas; k++) {
    const e = owners.table[shard * owners.replicas + k]!;
    if (e === NO_OWNER) continue;
    any = true;
    const s = state(e);
    if (s === 'ready') return { kind: 'owner', endpoint: e };
    if (s === 'connecting' || s === 'pending') waiting = true;
  }
  if (!any) return { kind: 'unavailable', message: `shard ${shard} has no owner` };
  return waiting ? { kind: 'queue' } : { kind: 'unavailable', message: `no owner of shard ${shard} is reachable` };
}
