// Inputs that arrive while a costly computation runs (docs/architecture.md "One data path"): only the
// latest of those waiting is computed and published, so a burst of reports during a full
// computation in the worker thread neither builds a backlog nor pushes maps already out of date.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { startServer } from '../../src/app/index.js';
import type { Endpoint } from '../../src/core/endpoint.js';
import { eventually } from '../support/eventually.js';
import { tempTopology } from '../serve/support.js';
import { SetSource } from './set-source.js';

/** `n` pods of weight `w`: a new weight changes every endpoint, a full computation. */
const pods = (n: number, w = 1): Endpoint[] =>
  Array.from({ length: n }, (_, i) => ({
    id: `pod-${i}`,
    address: `10.2.${(i >> 8) & 255}.${i & 255}`,
    port: 8000,
    locality: { region: '', zone: `z${i % 2}`, subzone: '' },
    weight: w,
    ready: true,
  }));

test('endpoint reports queued behind a full computation: only the latest is computed and published', async (t) => {
  const topo = await tempTopology('shards: 16384\nreplicas: 2\nkubernetes:\n  services: [cache]\n');
  const source = new SetSource();
  source.endpoints = pods(3);
  const server = await startServer({ configFile: topo.file, httpPort: 0, host: '127.0.0.1', kubernetesSource: () => source, fileWatch: { pollIntervalMs: 0 } });
  t.after(async () => {
    await server.close();
    await topo.cleanup();
  });
  const published: string[] = [];
  server.state.onShardMap((view) => void published.push(`${view.map.endpoints.length}x${view.map.endpoints[0]!.weight}`));
  // 16384 x 2 x 2000: a full computation in the worker thread, about a second here.
  source.set(pods(2000, 1));
  await sleep(50);
  source.set(pods(2000, 2)); // out of date before its turn comes
  source.set(pods(2000, 3));
  const last = await eventually('the latest report', () => server.state.current(), { accept: (v) => v?.map.endpoints[0]!.weight === 3, timeoutMs: 30_000 });
  assert.equal(last?.cause?.source, 'kubernetes');
  assert.deepEqual(published, ['2000x1', '2000x3']);
});
