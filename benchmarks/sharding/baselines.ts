/**
 * The placement schemes keyway is compared against, each as "shard -> endpoint" for a list of
 * weighted endpoints: a ketama ring (npm `hashring`: 40 MD5 digests x 4 points = 160 points per
 * endpoint on average, scaled by weight), jump consistent hash (Lamping & Veach; unweighted, and it
 * can only remove the last bucket), modulo, and npm `rendezvous-hash` (MD5 per pair, unweighted).
 */
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

interface HashRingInstance {
  get(key: string): string;
}
type HashRingCtor = new (servers: Record<string, number>, algorithm?: string, options?: Record<string, unknown>) => HashRingInstance;
const HashRing = require('hashring') as HashRingCtor;
const rendezvousSelect = require('rendezvous-hash') as (key: string, nodes: Record<string, string>) => string;

export interface WeightedNode {
  readonly id: string;
  readonly weight: number;
}

export type Placement = (shard: number) => string;

export function ketamaPlacement(nodes: readonly WeightedNode[]): Placement {
  const ring = new HashRing(Object.fromEntries(nodes.map((n) => [n.id, n.weight])));
  return (shard) => ring.get(`shard-${shard}`);
}

const MASK = (1n << 64n) - 1n;

/** Jump consistent hash of a 64-bit key into [0, buckets). */
export function jumpHash(key: bigint, buckets: number): number {
  let b = -1;
  let j = 0;
  let k = key;
  while (j < buckets) {
    b = j;
    k = (k * 2862933555777941757n + 1n) & MASK;
    j = Math.floor((b + 1) * (2147483648 / (Number(k >> 33n) + 1)));
  }
  return b;
}

/**
 * A well-mixed 64-bit key per shard, since jump hash wants hashed keys, not 0, 1, 2, ...; `salt`
 * draws a different key set, so that repeated trials of a deterministic scheme average its noise.
 */
export function shardKeys(shardCount: number, salt = 0): bigint[] {
  const keys: bigint[] = [];
  for (let s = 0; s < shardCount; s++) {
    let z = (BigInt(s + 1) * 0x9e3779b97f4a7c15n + BigInt(salt) * 0xd1b54a32d192ed03n) & MASK;
    z = ((z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n) & MASK;
    z = ((z ^ (z >> 27n)) * 0x94d049bb133111ebn) & MASK;
    keys.push(z ^ (z >> 31n));
  }
  return keys;
}

export function jumpPlacement(nodes: readonly WeightedNode[], keys: readonly bigint[]): Placement {
  return (shard) => (nodes[jumpHash(keys[shard] as bigint, nodes.length)] as WeightedNode).id;
}

export function moduloPlacement(nodes: readonly WeightedNode[]): Placement {
  return (shard) => (nodes[shard % nodes.length] as WeightedNode).id;
}

/** npm rendezvous-hash: the node with the largest MD5(node, key) prefix, weights ignored. */
export function rendezvousHashLookup(nodes: readonly WeightedNode[]): Placement {
  const table = Object.fromEntries(nodes.map((n) => [n.id, n.id]));
  return (shard) => rendezvousSelect(String(shard), table);
}
