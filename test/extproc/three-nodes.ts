/**
 * Serving states for the endpoint picker's tests: three ready nodes, S = 16, R = 2 (`state`), or
 * one node that owns every shard (`oneNodeState`, for tests with a real upstream).
 */
import type { Endpoint } from '../../src/core/endpoint.js';
import type { ServingReader, ServingView } from '../../src/core/serving.js';
import { DEFAULT_XDS_SETTINGS } from '../../src/core/settings.js';
import { computeShardMap } from '../../src/sharding/index.js';

const ENDPOINTS: Endpoint[] = [0, 1, 2].map((i) => ({
  id: `n${i}`,
  address: `10.0.0.${i + 1}`,
  port: 7000,
  locality: { region: 'r', zone: 'z', subzone: `s${i}` },
  weight: 1,
  ready: true,
}));
const policy = { shardCount: 16, replicas: 2, spread: 'none' as const };

/** A reader that always serves the map of `endpoints` under `policy`. */
function fixedState(endpoints: Endpoint[], p: { shardCount: number; replicas: number; spread: 'none' }): ServingReader {
  const view: ServingView = { sequence: 1, map: computeShardMap(endpoints, p), topology: { policy: p, xds: DEFAULT_XDS_SETTINGS, endpoints }, updatedAt: new Date(0) };
  return { current: () => view, onShardMap: () => () => undefined } as unknown as ServingReader;
}

/** Three ready nodes, S = 16, R = 2. */
export const state = fixedState(ENDPOINTS, policy);

/** One ready node `n0` at `address:port` owning all of S = 4 shards (R = 1). */
export function oneNodeState(address: string, port: number): ServingReader {
  return fixedState([{ id: 'n0', address, port, locality: { region: 'r', zone: 'z', subzone: 's' }, weight: 1, ready: true }], { shardCount: 4, replicas: 1, spread: 'none' });
}

/** Four ready nodes n0 to n3 and the picker's settings with `keyHeader` (a `-bin` one in the binary-key tests). */
export function fourNodeView(shardCount: number, replicas: number, keyHeader: string): ServingView {
  const endpoints: Endpoint[] = [0, 1, 2, 3].map((i) => ({
    id: `n${i}`,
    address: `10.0.0.${i + 1}`,
    port: 8000,
    locality: { region: 'r', zone: 'z', subzone: `s${i}` },
    weight: 1,
    ready: true,
  }));
  const p = { shardCount, replicas, spread: 'none' as const };
  const xds = { ...DEFAULT_XDS_SETTINGS, routing: { keyHeader } };
  return { sequence: 1, map: computeShardMap(endpoints, p), topology: { policy: p, xds, endpoints }, updatedAt: new Date(0) };
}
