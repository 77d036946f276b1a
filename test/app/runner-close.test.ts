// close() of the runner (README "SIGTERM"): a full shard-map computation under way in the worker
// thread is abandoned, not awaited (seconds at the budget's edge), and its map is not published
// after the stages have stopped; the cut computation is no pipeline error.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { startServer } from '../../src/app/index.js';
import { captureLogs, tempTopology } from '../serve/support.js';
import { SetSource, pods } from './set-source.js';

test('close() abandons a full computation under way in the worker instead of waiting for it and publishing it', async (t) => {
  const topo = await tempTopology('shards: 16384\nreplicas: 2\nkubernetes:\n  services: [cache]\n');
  t.after(() => topo.cleanup());
  const source = new SetSource();
  source.endpoints = pods(3); // small: computed inline at start
  const { logger, records } = captureLogs('info');
  const server = await startServer({ configFile: topo.file, httpPort: 0, host: '127.0.0.1', logger, kubernetesSource: () => source, fileWatch: { pollIntervalMs: 0 } });
  assert.equal(server.state.current()!.map.endpoints.length, 3);
  // 16384 x 2 x 2000: a full computation in the worker thread, about a second here.
  source.set(pods(2000));
  await sleep(100);
  await server.close();
  assert.equal(server.state.current()!.map.endpoints.length, 3, 'no map published after close()');
  assert.equal(server.state.pipelineError(), undefined);
  assert.deepEqual(records.filter((r) => r.level >= 50).map((r) => r.msg), []);
});
