// A valid topology file whose shard map cannot be computed (Kubernetes endpoints past the work
// budget) keeps the map in force (docs/errors.md BUDGET_EXCEEDED), and with it the settings and the
// load signal of that map: none of the file applies until a map of it does.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startServer } from '../../src/app/index.js';
import { KeywayError } from '../../src/core/errors.js';
import { windowStart, type LoadReport, type LoadReportIntake } from '../../src/core/load.js';
import { shardReaders } from '../../src/core/shard-map.js';
import type { ServeStage } from '../../src/core/stage.js';
import { eventually } from '../support/eventually.js';
import { tempTopology } from '../serve/support.js';
import { SetSource, pods } from './set-source.js';

/** Long windows, so the test rarely straddles a window's end (it waits when one is near). */
const WINDOW_MS = 600_000;

/** One node's report for the last closed window: `requests` on `shard`, little elsewhere. */
function report(nodeId: string, shard: number): LoadReport {
  const shards = Array.from({ length: 64 }, (_, s) => ({ shard: s, requests: s === shard ? 600_000 : 100 }));
  return { nodeId, windowStartMs: windowStart(Date.now(), WINDOW_MS) - WINDOW_MS, windowMs: WINDOW_MS, totalRequests: 600_000 + 63 * 100, shards };
}

const topology = (shards: number, service: string): string =>
  `shards: ${shards}\nreplicas: 2\nservice: ${service}\nhotShards: {windowMs: ${WINDOW_MS}}\nkubernetes:\n  services: [cache]\n`;

test('a reload whose map is past the work budget applies none of its settings, and the load of the map in force still counts', async (t) => {
  const left = windowStart(Date.now(), WINDOW_MS) + WINDOW_MS - Date.now();
  if (left < 5_000) await new Promise((r) => setTimeout(r, left + 100));
  const topo = await tempTopology(topology(64, 'first'));
  const kubernetes = new SetSource();
  kubernetes.endpoints = pods(1100);
  let load: LoadReportIntake | undefined;
  const tap: ServeStage = { name: 'load-tap', start: (ctx) => ((load = ctx.load), Promise.resolve({ close: () => Promise.resolve() })) };
  const server = await startServer({
    configFile: topo.file,
    httpPort: 0,
    host: '127.0.0.1',
    stages: [tap],
    kubernetesSource: () => kubernetes,
    fileWatch: { pollIntervalMs: 0, debounce: { holdOffMs: 60_000, maxDelayMs: 60_000 } },
  });
  t.after(async () => {
    await server.close();
    await topo.cleanup();
  });
  load!.reportLoad(report('pod-0', 5));
  await eventually('shard 5 spread', () => shardReaders(server.state.current()!.map, 5) > 1);
  const before = server.state.current()!;

  // 65536 x 2 x 1100 endpoints is past the work budget: the map in force stays.
  await topo.write(topology(65536, 'second'));
  await server.reload();
  const err = await eventually('the budget error', () => server.state.pipelineError());
  assert.equal((err as KeywayError).code, 'BUDGET_EXCEEDED');

  // More load on the map in force: decided as before, with its settings.
  load!.reportLoad(report('pod-1', 9));
  const after = await eventually('shard 9 spread too', () => {
    const v = server.state.current()!;
    return shardReaders(v.map, 9) > 1 ? v : undefined;
  }, { timeoutMs: 3000 });
  assert.equal(after.map.policy.shardCount, 64);
  assert.equal(shardReaders(after.map, 5), shardReaders(before.map, 5), 'shard 5 stays spread');
  assert.equal(after.topology.xds.service, 'first', 'the refused reload\'s xDS settings reach no proxy');
  assert.equal(after.topology.policy.shardCount, 64, 'the view\'s settings are those of its map');
});
