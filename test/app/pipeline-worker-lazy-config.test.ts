// The pipeline worker thread (src/app/pipeline-worker-entry.ts) loads the topology-file parser
// only with the first file it parses: a thread started for shard maps alone never holds the YAML
// libraries.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { MessageChannel, type MessagePort, Worker } from 'node:worker_threads';
import type { Endpoint } from '../../src/core/endpoint.js';
import { prepareShardMapInput } from '../../src/sharding/index.js';
import type { PipelineWorkerReply } from '../../src/app/pipeline-worker-entry.js';

const ENTRY = new URL('../../src/app/pipeline-worker-entry.ts', import.meta.url).href;

/**
 * The worker thread as pipeline-worker.ts starts it under tsx, plus a probe port that answers
 * whether the `yaml` package is loaded in that thread (its CommonJS cache; the thread has its own).
 */
const BOOT = `
const { workerData } = require('node:worker_threads');
workerData.probe.on('message', () => workerData.probe.postMessage(Object.keys(require.cache).some((f) => f.includes('/node_modules/yaml/'))));
import('tsx/esm/api').then((m) => { m.register(); return import(${JSON.stringify(ENTRY)}); }).then(() => workerData.probe.postMessage('ready'));
`;

const ep = (i: number): Endpoint => ({
  id: `cache-${i}`,
  address: `10.0.0.${i}`,
  port: 6379,
  locality: { region: 'r', zone: `z${i % 2}`, subzone: `s${i % 4}` },
  weight: 1,
  ready: true,
});

async function next(port: MessagePort): Promise<unknown> {
  const [value] = (await once(port, 'message')) as [unknown];
  return value;
}

test('a worker that computes shard maps only never loads the YAML libraries; its first parse does', async (t) => {
  const { port1: probe, port2 } = new MessageChannel();
  const worker = new Worker(BOOT, { eval: true, workerData: { probe: port2 }, transferList: [port2] });
  t.after(async () => {
    probe.close();
    await worker.terminate();
  });
  assert.equal(await next(probe), 'ready');
  const yamlLoaded = async (): Promise<unknown> => {
    probe.postMessage('?');
    return next(probe);
  };
  const ask = async (req: object): Promise<PipelineWorkerReply> => {
    worker.postMessage(req);
    const [reply] = (await once(worker, 'message')) as [PipelineWorkerReply];
    return reply;
  };

  const { sorted, policy } = prepareShardMapInput(Array.from({ length: 8 }, (_, i) => ep(i)), { shardCount: 256, replicas: 2, spread: 'zone' });
  const slots = await ask({ id: 1, kind: 'slots', sorted, policy });
  assert.ok('slots' in slots, JSON.stringify(slots));
  assert.equal(await yamlLoaded(), false, 'the yaml package was loaded for a shard map');

  const config = await ask({ id: 2, kind: 'config', text: 'shards: 8\nendpoints: []\n', file: 'topology.yaml' });
  assert.ok('config' in config, JSON.stringify(config));
  assert.equal(await yamlLoaded(), true, 'the probe sees the yaml package once a file was parsed');
});

test('requests stay answered in order when a parse first waits for the parser to load', async (t) => {
  const worker = new Worker(`import('tsx/esm/api').then((m) => { m.register(); return import(${JSON.stringify(ENTRY)}); });`, { eval: true });
  t.after(() => worker.terminate());
  const replies: number[] = [];
  worker.on('message', (r: PipelineWorkerReply) => replies.push(r.id));
  const { sorted, policy } = prepareShardMapInput([ep(1), ep(2)], { shardCount: 16, replicas: 1, spread: 'none' });
  worker.postMessage({ id: 1, kind: 'config', text: 'shards: 8\nendpoints: []\n', file: 'topology.yaml' });
  worker.postMessage({ id: 2, kind: 'slots', sorted, policy });
  worker.postMessage({ id: 3, kind: 'config', text: 'shards: [\n', file: 'topology.yaml' });
  worker.postMessage({ id: 4, kind: 'slots', sorted, policy });
  const deadline = Date.now() + 30_000;
  while (replies.length < 4 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
  assert.deepEqual(replies, [1, 2, 3, 4]);
});
