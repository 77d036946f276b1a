// A topology file saved while an endpoint change's full computation runs in the worker thread
// (docs/configuration.md "Reloading"): only a computation of the previous file gives way to the
// newer file. An endpoint change's map was dropped too, for the newer file's computation to bring
// the endpoints; when that file's map could not be computed (Kubernetes endpoints past the work
// budget), the endpoint change was lost: the map in force kept routing to the departed pods, with
// no retry, until the next input.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { KeywayError } from '../../src/core/errors.js';
import { eventually } from '../support/eventually.js';
import { serveForReloads } from '../serve/support.js';
import { SetSource, pods } from './set-source.js';

const PODS = 2000;
const topology = (replicas: number): string => `shards: 16384\nreplicas: ${replicas}\nhandoff: {enabled: false}\nkubernetes:\n  services: [cache]\n`;

test('an endpoint change computed while a topology file arrives is published, even when that file\'s map then fails', async (t) => {
  const kubernetes = new SetSource();
  kubernetes.endpoints = pods(PODS);
  const { server, topo, records } = await serveForReloads(t, topology(2), { kubernetesSource: () => kubernetes });
  const published: number[] = [];
  server.state.onShardMap((view) => void published.push(view.map.endpoints.length));

  // Two pods leave: a full computation (16384 x 2 x 1998) in the worker thread.
  kubernetes.set(pods(PODS).slice(2));
  // Meanwhile a file raising replicas to 5: 16384 x 5 x 1998 is past the work budget.
  await topo.write(topology(5));
  await server.reload();
  if (published.length > 0) return t.skip('the endpoint change was computed before the file was read');

  const err = await eventually('the new file\'s budget error', () => server.state.pipelineError(), { timeoutMs: 30_000 });
  assert.equal((err as KeywayError).code, 'BUDGET_EXCEEDED');
  assert.deepEqual(published, [PODS - 2], 'the endpoint change is in force');
  assert.equal(server.state.current()!.map.endpoints.length, PODS - 2);
  assert.equal(records.filter((r) => r.msg.startsWith('a newer topology file arrived while the shard map was computed')).length, 0);
});
