// A report queued by a Kubernetes source that a later job replaced (docs/configuration.md
// "Reloading"): the source it came from no longer feeds the map, so it must not overwrite the
// endpoints of the source in force.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { startServer } from '../../src/app/index.js';
import { eventually } from '../support/eventually.js';
import { tempTopology, topologyText } from '../serve/support.js';
import { HeldStopSource, SetSource, pods } from './set-source.js';

test('a report queued by a source a later reload replaced does not overwrite the endpoints in force', async (t) => {
  const topo = await tempTopology('shards: 64\nreplicas: 2\nkubernetes:\n  services: [a]\n');
  const a = new HeldStopSource();
  a.endpoints = pods(4);
  const b = new SetSource();
  b.endpoints = pods(5);
  const server = await startServer({
    configFile: topo.file,
    httpPort: 0,
    host: '127.0.0.1',
    kubernetesSource: (section) => ((section.value as { services: string[] }).services[0] === 'a' ? a : b),
    fileWatch: { pollIntervalMs: 0, debounce: { holdOffMs: 10_000, maxDelayMs: 10_000 } },
  });
  t.after(async () => {
    a.release();
    await server.close();
    await topo.cleanup();
  });
  assert.equal(server.state.current()?.map.endpoints.length, 4);
  const published: string[] = [];
  server.state.onShardMap((v) => void published.push(`${v.cause?.source}:${v.map.endpoints.length}`));

  // Section b: its start job switches to b and stops a, which holds the queue.
  await topo.write('shards: 64\nreplicas: 2\nkubernetes:\n  services: [b]\n');
  await server.reload();
  await a.stopping;
  // Behind it: the file alone (3 endpoints), then a report b queued before the file replaced it.
  await topo.write(topologyText({ ready: [true, true, true] }));
  await server.reload();
  b.set(pods(7));
  a.release();

  await eventually('the map of the file', () => published.some((p) => p === 'file:3'));
  await sleep(100); // a job queued behind the reload runs at once
  assert.deepEqual(published.slice(published.indexOf('file:3')), ['file:3'], `maps published: ${published.join(' ')}`);
  assert.deepEqual(server.state.current()!.map.endpoints.map((e) => e.id), ['e0', 'e1', 'e2']);
});
