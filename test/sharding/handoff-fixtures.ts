// Endpoints for the handoff tests (test/sharding/handoff.test.ts, keyway diff's warm-up report):
// one locality, weight 1, ready unless `over` says otherwise.
import type { Endpoint } from '../../src/core/endpoint.js';

export const ep = (id: string, over: Partial<Endpoint> = {}): Endpoint => ({
  id,
  address: '10.0.0.1',
  port: 7000,
  locality: { region: 'r', zone: 'z', subzone: 'f' },
  weight: 1,
  ready: true,
  ...over,
});
