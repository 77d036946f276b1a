/** The serving state the endpoint picker's server tests share: three ready nodes, S = 16, R = 2. */
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
const VIEW: ServingView = { sequence: 1, map: computeShardMap(ENDPOINTS, policy), topology: { policy, xds: DEFAULT_XDS_SETTINGS, endpoints: ENDPOINTS }, updatedAt: new Date(0) };
/** A reader that always serves VIEW. */
export const state = { current: () => VIEW, onShardMap: () => () => undefined } as unknown as ServingReader;
