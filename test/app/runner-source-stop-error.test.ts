// Switching the endpoint source on a reload (docs/configuration.md "Reloading"): the source being
// replaced failing to stop is logged, and does not undo the switch half-way (the file in force,
// but the map, the settings and the endpoints of the replaced source kept with no way back).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startServer } from '../../src/app/index.js';
import { eventually } from '../support/eventually.js';
import { captureLogs, tempTopology, topologyText } from '../serve/support.js';
import { SetSource, pods } from './set-source.js';

test('a Kubernetes source whose stop() fails: the reload to the file still applies the file', async (t) => {
  const topo = await tempTopology('shards: 64\nreplicas: 2\nkubernetes:\n  services: [cache]\n');
  const source = new SetSource();
  source.endpoints = pods(4);
  source.stop = () => Promise.reject(new Error('informer would not stop'));
  const { logger, records } = captureLogs('warn');
  const server = await startServer({ configFile: topo.file, httpPort: 0, host: '127.0.0.1', logger, kubernetesSource: () => source, fileWatch: { pollIntervalMs: 0 } });
  t.after(async () => {
    await server.close().catch(() => {});
    await topo.cleanup();
  });
  await topo.write(topologyText({ shards: 32, ready: [true, true, true] }));
  await server.reload();
  const view = await eventually('the file map', () => server.state.current(), { accept: (v) => v?.map.endpoints.length === 3 });
  assert.equal(view!.map.policy.shardCount, 32);
  assert.equal(server.state.pipelineError(), undefined);
  assert.ok(records.some((r) => /stopping the replaced endpoint source failed/.test(r.msg) && /informer would not stop/.test(r.msg)), 'the failure is logged');
});

test('close(): a Kubernetes source whose stop() fails is logged; the shutdown still completes', async (t) => {
  const topo = await tempTopology('shards: 64\nreplicas: 2\nkubernetes:\n  services: [cache]\n');
  t.after(() => topo.cleanup());
  const source = new SetSource();
  source.endpoints = pods(4);
  source.stop = () => Promise.reject(new Error('informer would not stop'));
  const { logger, records } = captureLogs('warn');
  const server = await startServer({ configFile: topo.file, httpPort: 0, host: '127.0.0.1', logger, kubernetesSource: () => source, fileWatch: { pollIntervalMs: 0 } });
  await server.close();
  assert.ok(records.some((r) => /informer would not stop/.test(r.msg)), 'the failure is logged');
});
