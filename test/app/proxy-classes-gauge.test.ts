/**
 * `keyway_xds_proxy_classes{flavor}` (docs/observability.md): the classes the snapshot cache
 * translates at every map change, read at each scrape. keyway runs in-process with its real xDS
 * stage; proxies of each flavor connect, and two Envoys share one class while each cache node's
 * agent is a class of its own.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { metricsStage } from '../../src/app/metrics-stage.js';
import { xdsStage } from '../../src/app/xds-stage.js';
import { topologyText } from '../serve/support.js';
import { startKeywayInProcess } from '../support/keyway-in-process.js';
import { eventually } from '../support/eventually.js';
import { XdsTestClient } from '../support/xds-client/xds-client.js';

test('the proxy-class gauge counts classes by flavor, not proxies', async (t) => {
  const { server, clients } = await startKeywayInProcess(t, topologyText({ weights: [10, 10, 10] }), {
    stages: (metrics) => [metricsStage(metrics), xdsStage({ metrics })],
  });
  const port = server.listening.xdsPort!;
  const classes = async (): Promise<Record<string, string | undefined>> => {
    const lines = (await (await fetch(`http://127.0.0.1:${server.httpPort}/metrics`)).text()).split('\n');
    const value = (flavor: string) => lines.find((l) => l.startsWith(`keyway_xds_proxy_classes{flavor="${flavor}"}`))?.split(' ')[1];
    return { envoy: value('envoy'), grpc: value('grpc'), agent: value('agent') };
  };
  assert.deepEqual(await classes(), { envoy: '0', grpc: '0', agent: '0' });

  for (const id of ['envoy-1', 'envoy-2']) {
    const envoy = new XdsTestClient({ port, node: { id, userAgentName: 'envoy' } });
    clients.push(envoy);
    envoy.request('cluster');
    await envoy.expect('cluster');
  }
  const grpc = new XdsTestClient({ port, node: { id: 'grpc-1', userAgentName: 'gRPC Node Pure JS' } });
  clients.push(grpc);
  grpc.request('listener', ['keyway-cache']);
  await grpc.expect('listener');
  for (const id of ['e0', 'e1']) {
    const agent = new XdsTestClient({ port, node: { id, userAgentName: 'keyway-agent' }, protocol: 'delta' });
    clients.push(agent);
    agent.delta('assignment', { subscribe: [] });
    await agent.expect('assignment');
  }
  await eventually('two Envoys in one class, one gRPC class, an agent class per node', classes, {
    accept: (c) => c.envoy === '1' && c.grpc === '1' && c.agent === '2',
  });
});
