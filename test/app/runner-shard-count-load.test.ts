// `keyway serve` across a change of the shard count S (docs/configuration.md "Reloading",
// docs/load-reports.md "A change of shards"): the first map under the new S is decided without the
// load windows counted under the old one, whose shard numbers name other keys now.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startServer } from '../../src/app/index.js';
import { windowStart, type LoadReportIntake } from '../../src/core/load.js';
import type { ServingView } from '../../src/core/serving.js';
import type { ServeStage } from '../../src/core/stage.js';
import { eventually } from '../support/eventually.js';
import { tempTopology, topologyText } from '../serve/support.js';

const W = 1000;
const hot = ['hotShards:', `  windowMs: ${W}`, '  historyWindows: 2', '  replayWindows: 0', '  minWindowRequests: 0'].join('\n');

test('the first map under a new S carries no hot shard from load counted under the old S', async (t) => {
  const four = [true, true, true, true];
  const topo = await tempTopology(topologyText({ shards: 64, ready: four, extra: hot }));
  // A stage that keeps the load intake, to hand it reports as the xDS server would.
  let intake: LoadReportIntake | undefined;
  const grab: ServeStage = { name: 'grab-load', start: async (ctx) => ((intake = ctx.load), { close: async () => {} }) };
  const server = await startServer({ configFile: topo.file, httpPort: 0, host: '127.0.0.1', stages: [grab] });
  t.after(async () => {
    await server.close();
    await topo.cleanup();
  });
  const views: ServingView[] = [];
  server.state.onShardMap((v) => views.push(v));

  // Two closed windows under S = 64 in which shard 5 carries 90% of e0's requests.
  const now = windowStart(Date.now(), W);
  for (const start of [now - 2 * W, now - W]) intake!.reportLoad({ nodeId: 'e0', windowStartMs: start, windowMs: W, totalRequests: 1000, shards: [{ shard: 5, requests: 900 }] });
  await eventually('shard 5 hot under S = 64', () => server.state.current()!.hotShards?.shards.some((h) => h.shard === 5), { timeoutMs: 3000 });

  // The reload to S = 32: shard 5 names other keys now, and nothing was counted for them.
  await topo.write(topologyText({ shards: 32, ready: four, extra: hot }));
  await eventually('the map under S = 32', () => server.state.current()!.map.policy.shardCount === 32, { timeoutMs: 5000 });
  const first = views.find((v) => v.map.policy.shardCount === 32)!;
  assert.deepEqual(first.hotShards?.shards ?? [], [], 'no hot shard in the first map under S = 32');
  assert.equal(first.map.readers, undefined, 'no shard spread');
});
