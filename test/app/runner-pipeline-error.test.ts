// The runner's pipeline error (docs/security.md "Work budget", `/readyz` `pipelineError`): it says
// the latest input could not become a shard map, so only a map computed from the latest input
// clears it, not a publish of the hot-shard policy or the handoff planner on the old map.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startServer } from '../../src/app/index.js';
import { MAX_ENDPOINTS } from '../../src/core/limits.js';
import { KeywayError } from '../../src/core/errors.js';
import type { LoadSnapshot } from '../../src/core/load.js';
import { shardReaders } from '../../src/core/shard-map.js';
import { FedSnapshots } from '../support/fed-snapshots.js';
import { eventually } from '../support/eventually.js';
import { tempTopology } from '../serve/support.js';
import { SetSource, pods } from './set-source.js';

/** Shard 5 carries 60% of 1000 rps. */
function hotSnapshot(): LoadSnapshot {
  const shards = Array.from({ length: 64 }, (_, s) => ({ shard: s, requests: s === 5 ? 600 : 400 / 63 }));
  return { windowStartMs: 1_700_000_000_000, windowMs: 10_000, shards, nodes: [] };
}

test('a load decision published on the old map keeps the pipeline error of the input it could not apply', async (t) => {
  const topo = await tempTopology('shards: 64\nreplicas: 2\nkubernetes:\n  services: [cache]\n');
  const source = new SetSource();
  const snapshots = new FedSnapshots();
  const server = await startServer({
    configFile: topo.file,
    httpPort: 0,
    host: '127.0.0.1',
    kubernetesSource: () => source,
    loadSnapshots: snapshots,
    fileWatch: { debounce: { holdOffMs: 20, maxDelayMs: 100 }, pollIntervalMs: 0 },
  });
  t.after(async () => {
    await server.close();
    await topo.cleanup();
  });
  source.set(pods(4));
  await eventually('the map of 4', () => server.state.current()?.map.endpoints.length === 4);

  source.set(pods(MAX_ENDPOINTS + 1));
  await eventually('the refusal', () => server.state.pipelineError());

  // A new load window re-decides on the map in force and publishes it: the endpoints past the
  // budget are still not applied.
  snapshots.feed([hotSnapshot()]);
  const view = await eventually('the load decision', () => {
    const v = server.state.current()!;
    return shardReaders(v.map, 5) > 1 ? v : undefined;
  });
  assert.equal(view.cause?.source, 'load');
  assert.equal(view.map.endpoints.length, 4);
  const err = server.state.pipelineError();
  assert.ok(err instanceof KeywayError && err.code === 'BUDGET_EXCEEDED', `pipeline error after the load publish: ${String(err)}`);
  const readyz = (await (await fetch(`http://127.0.0.1:${server.httpPort}/readyz`)).json()) as { pipelineError?: string; stale: boolean };
  assert.match(readyz.pipelineError ?? '', /work budget/);
  assert.equal(readyz.stale, true);

  // The next input that becomes a map clears it.
  source.set(pods(5));
  await eventually('the map of 5', () => server.state.current()?.map.endpoints.length === 5);
  assert.equal(server.state.pipelineError(), undefined);
});
