// The shard map's warnings stand while the topology does (docs/observability.md "Logs"): logged
// when one appears, changes or comes back, not again at every map computed for an endpoint change.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startServer } from '../../src/app/index.js';
import { eventually } from '../support/eventually.js';
import { captureLogs, tempTopology, topologyText } from './support.js';

test("a shard-map warning that stands is logged once, not at every endpoint change; a changed one is logged", async (t) => {
  // R = 3 over 2 ready endpoints: "only 2 eligible endpoints for 3 replicas".
  const topo = await tempTopology(topologyText({ replicas: 3, ready: [true, true, false] }));
  const { logger, records } = captureLogs();
  const server = await startServer({ configFile: topo.file, httpPort: 0, host: '127.0.0.1', logger, fileWatch: { debounce: { holdOffMs: 20, maxDelayMs: 100 }, pollIntervalMs: 50 } });
  t.after(async () => {
    await server.close();
    await topo.cleanup();
  });
  const warned = (text: RegExp): number => records.filter((r) => r.level === 40 && text.test(r.msg)).length;
  const two = /^only 2 eligible endpoints for 3 replicas/;
  assert.equal(warned(two), 1);

  // Five maps for weight changes: the same warning each time.
  let version = server.state.current()!.map.version;
  for (let w = 11; w <= 15; w++) {
    await topo.write(topologyText({ replicas: 3, ready: [true, true, false], weights: [w, 10, 10] }));
    const previous = version;
    await eventually(`the map with weight ${w}`, () => server.state.current()!.map.version, { accept: (v) => v !== previous });
    version = server.state.current()!.map.version;
  }
  assert.equal(warned(two), 1, 'the standing warning not logged again');

  // One endpoint left: another warning; two again: the first comes back.
  await topo.write(topologyText({ replicas: 3, ready: [true, false, false] }));
  await eventually('the one-endpoint warning', () => warned(/^only 1 eligible endpoints for 3 replicas/), { accept: (n) => n === 1 });
  await topo.write(topologyText({ replicas: 3, ready: [true, true, false] }));
  await eventually('the two-endpoint warning again', () => warned(two), { accept: (n) => n === 2 });
});
