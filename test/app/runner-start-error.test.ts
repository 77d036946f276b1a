// A start whose first shard map cannot be computed (docs/security.md "Work budget": endpoints from
// Kubernetes are checked by the sharding stage): startServer rejects with the reason, as for an
// invalid file, instead of a later stage's complaint that no map exists, and leaves nothing running.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startServer } from '../../src/app/index.js';
import { MAX_ENDPOINTS } from '../../src/core/limits.js';
import { KeywayError } from '../../src/core/errors.js';
import type { ServeStage } from '../../src/core/stage.js';
import { tempTopology } from '../serve/support.js';
import { SetSource, pods } from './set-source.js';

test('Kubernetes endpoints past the budget at start: startServer rejects with BUDGET_EXCEEDED and starts no stage', async (t) => {
  const topo = await tempTopology('shards: 64\nreplicas: 2\nkubernetes:\n  services: [cache]\n');
  t.after(() => topo.cleanup());
  const source = new SetSource();
  source.endpoints = pods(MAX_ENDPOINTS + 1);
  let stopped = false;
  source.stop = async () => void (stopped = true);
  const started: string[] = [];
  const stage: ServeStage = {
    name: 'needs-a-map',
    start: async (ctx) => {
      started.push(ctx.state.current() ? 'with a map' : 'without a map');
      return { close: async () => {} };
    },
  };
  await assert.rejects(
    startServer({ configFile: topo.file, httpPort: 0, host: '127.0.0.1', kubernetesSource: () => source, stages: [stage], fileWatch: { pollIntervalMs: 0 } }),
    (err: unknown) => err instanceof KeywayError && err.code === 'BUDGET_EXCEEDED' && /endpoints/.test(err.message),
  );
  assert.deepEqual(started, []);
  assert.ok(stopped, 'the Kubernetes source is stopped');
});
