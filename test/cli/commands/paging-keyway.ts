/** A real keyway admin app (it pages `GET /v1/proxies`) over a fleet of proxies, for the `keyway status` tests. */
import type { AddressInfo } from 'node:net';
import { buildAdminApp } from '../../../src/admin/index.js';
import { ServingState } from '../../../src/app/serving-state.js';
import { loadConfigFile } from '../../../src/config/index.js';
import { computeShardMap } from '../../../src/sharding/index.js';
import type { Fleet } from '../../admin/proxy-fleet.js';

/** The admin app over `fleet`, serving the example topology's map, listening on loopback until the test ends: its base URL. */
export async function pagingKeyway(t: { after: (fn: () => Promise<unknown>) => void }, fleet: Fleet): Promise<string> {
  const cfg = await loadConfigFile('examples/topology.yaml');
  const state = new ServingState();
  state.publish({ topology: cfg.topology, map: computeShardMap(cfg.topology.endpoints, cfg.topology.policy) });
  const app = await buildAdminApp(state, { readers: [{ proxies: fleet.reader() }] });
  await app.listen({ port: 0, host: '127.0.0.1' });
  t.after(() => app.close());
  return `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
}
