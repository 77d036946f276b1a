// The pipeline worker failing under a computation (docs/architecture.md "The composition root"):
// the failure is not the input's, so the runner computes the inputs in force again, with backoff,
// instead of keeping the previous map until some later input (a stable cluster may send none for
// hours, and a reloaded file is already in force: SIGHUP re-reads nothing new).
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { Worker } from 'node:worker_threads';
import { startServer } from '../../src/app/index.js';
import { KeywayError } from '../../src/core/errors.js';
import { eventually } from '../support/eventually.js';
import { captureLogs, tempTopology, topologyText } from '../serve/support.js';
import { SetSource, pods } from './set-source.js';

/** The next `n` requests posted to a pipeline worker thread kill it, as a crash or an OOM would. */
function crashWorkers(t: TestContext, n: number): void {
  const original = Worker.prototype.postMessage;
  let left = n;
  Worker.prototype.postMessage = function (this: Worker, ...args: Parameters<Worker['postMessage']>) {
    original.apply(this, args);
    if (left-- > 0) void this.terminate();
  };
  t.after(() => {
    Worker.prototype.postMessage = original;
  });
}

test('an endpoint change whose computation the worker failed is computed again: its map is published and /readyz recovers', async (t) => {
  // 16384 x 1 x 100 pods: past the inline work, so computed in the worker thread.
  const topo = await tempTopology('shards: 16384\nreplicas: 1\nkubernetes:\n  services: [cache]\n');
  const source = new SetSource();
  source.endpoints = pods(3); // small: computed inline at start
  const { logger, records } = captureLogs('info');
  const server = await startServer({ configFile: topo.file, httpPort: 0, host: '127.0.0.1', logger, kubernetesSource: () => source, fileWatch: { pollIntervalMs: 0 } });
  t.after(async () => {
    await server.close();
    await topo.cleanup();
  });
  crashWorkers(t, 1);
  source.set(pods(100));
  const failed = await eventually('the worker failure', () => server.state.pipelineError());
  assert.ok(failed instanceof KeywayError && failed.code === 'INTERNAL', String(failed));
  assert.equal(server.state.current()!.map.endpoints.length, 3, 'the last good map stays meanwhile');
  const view = await eventually('the change computed again', () => server.state.current(), { accept: (v) => v?.map.endpoints.length === 100, timeoutMs: 15_000 });
  assert.equal(view!.cause?.source, 'kubernetes');
  assert.equal(server.state.pipelineError(), undefined);
  assert.ok(records.some((r) => r.level === 50 && /computing it again in \d+ ms/.test(r.msg)), 'the failure says it is retried');
});

test('a reloaded topology file whose computation the worker failed is applied by the retry, without another change or SIGHUP', async (t) => {
  // 16384 x 1 x 64 endpoints = 2^20: computed in the worker thread.
  const topo = await tempTopology(topologyText({ shards: 16384, replicas: 1, ready: Array<boolean>(64).fill(true) }));
  const { logger, records } = captureLogs('info');
  const server = await startServer({ configFile: topo.file, httpPort: 0, host: '127.0.0.1', logger, fileWatch: { pollIntervalMs: 0 } });
  t.after(async () => {
    await server.close();
    await topo.cleanup();
  });
  crashWorkers(t, 1);
  // A new S: a full computation, and a change worth its warning.
  await writeFile(topo.file, topologyText({ shards: 32768, replicas: 1, ready: Array<boolean>(64).fill(true) }));
  await server.reload();
  await eventually('the worker failure', () => server.state.pipelineError());
  await eventually('the reloaded file applied', () => server.state.current(), { accept: (v) => v?.map.policy.shardCount === 32768, timeoutMs: 15_000 });
  assert.equal(server.state.pipelineError(), undefined);
  const warned = records.filter((r) => r.level === 40 && r.fromShards === 16384 && r.toShards === 32768);
  assert.equal(warned.length, 1, 'the new S is warned of once, when the retry brings it');
});
