/** keyway serving in-process with one Envoy-like client that NACKs its endpoints (the readers' end-to-end tests). */
import type { TestContext } from 'node:test';
import { referencedNames } from '../../../src/xds/cache/index.js';
import { fourNodeTopology, startKeywayInProcess } from '../../support/keyway-in-process.js';
import { XdsTestClient } from '../../support/xds-client/xds-client.js';

/** Starts keyway on four nodes; client `nodeId` fetches clusters, ACKs them, and NACKs the endpoints. */
export async function keywayWithNackingEnvoy(t: TestContext, nodeId: string) {
  const k = await startKeywayInProcess(t, fourNodeTopology([1, 1, 1, 1]));
  const client = new XdsTestClient({ port: k.server.listening.xdsPort!, node: { id: nodeId, cluster: 'gw', userAgentName: 'envoy' } });
  k.clients.push(client);
  client.request('cluster');
  const cds = await client.expect('cluster');
  client.ack('cluster');
  client.request('endpoint', cds.resources.flatMap((r) => referencedNames(r.message)));
  await client.expect('endpoint');
  client.nack('endpoint', 'malformed IP address');
  return k;
}
