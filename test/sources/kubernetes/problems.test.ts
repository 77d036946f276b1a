/**
 * Problems in cluster objects are listed in status() (and so in every /readyz answer) up to a
 * documented bound: a bad weight annotation rolled out to many pods must not grow each probe
 * answer without limit (docs/kubernetes-discovery.md "Problems").
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MAX_LISTED_PROBLEMS } from '../../../src/sources/kubernetes/index.js';
import { eventually } from '../../support/eventually.js';
import { Cluster, startSource } from './harness.js';

test('status lists at most MAX_LISTED_PROBLEMS problems, the first in order, and the log stays bounded', async (t) => {
  const cluster = await Cluster.start();
  t.after(() => cluster.close());
  cluster.node('gpu-a1', { region: 'r1', zone: 'z1' });
  const pods = MAX_LISTED_PROBLEMS + 50;
  const name = (i: number): string => `cache-node-${String(i).padStart(3, '0')}`;
  for (let i = 0; i < pods; i++) {
    cluster.addPod(name(i), { node: 'gpu-a1', ip: `10.0.${i >> 8}.${i & 255}`, annotations: { 'keyway.io/weight': 'lots' } }, false);
  }
  cluster.publishSlice();
  const running = await startSource(cluster.server);
  t.after(() => running.source.stop());

  assert.equal(running.source.current().length, pods, 'every pod is an endpoint (defaultWeight applies)');
  const listed = running.source.status().problems;
  assert.equal(listed.length, MAX_LISTED_PROBLEMS);
  assert.deepEqual(listed.map((p) => p.name), Array.from({ length: MAX_LISTED_PROBLEMS }, (_, i) => name(i)), 'the first in sort order');
  assert.equal(running.source.status().problemsTotal, pods, 'the total, since not all are listed');
  const warnings = running.logs.filter((l) => l.level === 40);
  assert.ok(warnings.length <= MAX_LISTED_PROBLEMS + 2, `${warnings.length} warnings logged`);
  assert.ok(warnings.some((l) => String(l.msg).includes(`${pods} problems in cluster objects; status lists the first ${MAX_LISTED_PROBLEMS}`)));

  // Fixing the annotations resolves them all.
  for (let i = 0; i < pods; i++) cluster.updatePod(name(i), { annotations: { 'keyway.io/weight': '2' } });
  await eventually('problems resolved', () => running.source.status().problems.length === 0, { timeoutMs: 5000 });
  assert.equal(running.source.status().problemsTotal, undefined, 'no total once every problem is listed');
  assert.ok(running.source.current().every((e) => e.weight === 2));
});
