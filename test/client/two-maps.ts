/**
 * Two shard maps of one policy for the tests of a client between keyway replicas at different
 * versions: V1 (one node), then V2 and V3 (a node joined each time).
 */
import type { Endpoint } from '../../src/core/endpoint.js';
import { computeShardMap } from '../../src/sharding/index.js';

export const policy = { shardCount: 16, replicas: 1, spread: 'none' } as const;
export const node = (id: string): Endpoint => ({ id, address: '10.0.0.1', port: 7000, locality: { region: 'r', zone: 'z', subzone: 's' }, weight: 1, ready: true });
export const V1 = computeShardMap([node('a')], policy);
export const V2 = computeShardMap([node('a'), node('b')], policy);
export const V3 = computeShardMap([node('a'), node('b'), node('c')], policy);
