/**
 * What the Pods informer keeps of the annotations keyway reads (src/sources/kubernetes/trim.ts).
 * The API server allows 256 KiB of annotations per object and the Pods watch covers the whole
 * namespace, so a weight or identity annotation kept whole could hold hundreds of MB. A value
 * longer than any keyway takes is kept only as its problem quotes it, and the problem still says
 * how long it was.
 *
 * Prints the figures: node --import tsx --test test/sources/kubernetes/annotation-memory.test.ts
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { V1Pod } from '@kubernetes/client-node';
import { heapAfterGc } from '../../support/heap.js';
import { KubeApiServer } from '../../support/kube-apiserver/index.js';
import { ENDPOINT_ID_PATTERN } from '../../../src/core/endpoint.js';
import { parseKubernetesSourceConfig } from '../../../src/sources/kubernetes/config.js';
import { clipValue, MAX_PROBLEM_VALUE_CHARS } from '../../../src/sources/kubernetes/problem.js';
import { MAX_ENDPOINT_ID_CHARS, podTrim } from '../../../src/sources/kubernetes/trim.js';
import { MAX_WEIGHT_TEXT_CHARS, parseWeight } from '../../../src/sources/kubernetes/weight.js';
import { NS, nodeObject, podObject, SERVICE, type SliceEndpoint, sliceObject } from './fixtures.js';
import { startSource } from './harness.js';

/** Pods in the namespace, each with one big annotation; a few are cache pods in the slice. */
const PODS = 300;
const IN_SLICE = 20;
/** Under the API server's 256 KiB, like a kubectl last-applied-configuration. */
const VALUE_CHARS = 200_000;
const KB = 1024;
/** Most heap the source may keep per pod; whole values kept cost 200 KB each. */
const MAX_BYTES_PER_POD = 8 * KB;

const name = (i: number): string => `cache-node-${String(i).padStart(4, '0')}`;
/** A distinct value per pod, as real annotations are (no string shared between pods). */
const bigValue = (i: number): string => `${'x'.repeat(VALUE_CHARS - 8)}${String(i).padStart(8, '0')}`;

/** Starts the real source over PODS pods carrying `annotation`; the heap it keeps per pod, and the problems. */
async function retainedPerPod(annotation: string, settings: Record<string, unknown>) {
  const server = await KubeApiServer.start();
  try {
    server.upsert(nodeObject('gpu-1', { region: 'r', zone: 'z' }));
    const members: SliceEndpoint[] = [];
    for (let i = 0; i < PODS; i++) {
      const ip = `10.0.${i >> 8}.${i & 255}`;
      server.upsert(podObject(name(i), { node: 'gpu-1', ip, annotations: { [annotation]: bigValue(i) } }));
      if (i < IN_SLICE) members.push({ pod: name(i), ip, node: 'gpu-1' });
    }
    server.upsert(sliceObject(`${SERVICE}-a`, members));
    // The server's event history holds whole objects: not the source's.
    server.compact();
    const before = await heapAfterGc();
    const running = await startSource(server, settings, { initialSyncTimeoutMs: 60_000, listTimeoutMs: 60_000 });
    try {
      const perPod = ((await heapAfterGc()) - before) / PODS;
      return { perPod, endpoints: running.source.current(), status: running.source.status(), logs: running.logs };
    } finally {
      await running.source.stop();
    }
  } finally {
    await server.close();
  }
}

test(`a ${VALUE_CHARS / 1000} KB weight annotation on ${PODS} pods: the source keeps a few KB per pod, and says the annotation is too long`, { timeout: 120_000 }, async (t) => {
  const r = await retainedPerPod('keyway.io/weight', {});
  t.diagnostic(`heap kept: ${(r.perPod / KB).toFixed(1)} KB per pod`);
  assert.ok(r.perPod < MAX_BYTES_PER_POD, `the source keeps ${(r.perPod / KB).toFixed(1)} KB per pod; at most ${MAX_BYTES_PER_POD / KB} KB expected`);
  assert.equal(r.endpoints.length, IN_SLICE);
  assert.ok(r.endpoints.every((e) => e.weight === 1), 'the GPU labels or defaultWeight apply');
  const problem = r.status.problems.find((p) => p.reason === 'bad-weight-annotation' && p.name === name(0));
  assert.ok(problem, 'the pod is reported');
  assert.equal(problem.value, `${'x'.repeat(MAX_PROBLEM_VALUE_CHARS)}... (${VALUE_CHARS} characters)`, 'the length the annotation had');
  assert.match(problem.message, new RegExp(`^weight annotation keyway\\.io/weight=".*" is longer than ${MAX_WEIGHT_TEXT_CHARS} characters, not a number`));
  const logged = r.logs.some((l) => typeof l.msg === 'string' && l.msg.startsWith(`Pod ${NS}/${name(0)}: weight annotation keyway.io/weight=`) && l.level === 40);
  assert.ok(logged, 'a warning names the pod and the annotation');
});

test(`a ${VALUE_CHARS / 1000} KB identity annotation on ${PODS} pods: the source keeps a few KB per pod`, { timeout: 120_000 }, async (t) => {
  const r = await retainedPerPod('example.com/id', { identity: 'annotation:example.com/id' });
  t.diagnostic(`heap kept: ${(r.perPod / KB).toFixed(1)} KB per pod`);
  assert.ok(r.perPod < MAX_BYTES_PER_POD, `the source keeps ${(r.perPod / KB).toFixed(1)} KB per pod; at most ${MAX_BYTES_PER_POD / KB} KB expected`);
  assert.equal(r.endpoints.length, 0);
  const problem = r.status.problems.find((p) => p.reason === 'bad-identity' && p.name === name(0));
  assert.equal(problem?.value, `${'x'.repeat(MAX_PROBLEM_VALUE_CHARS)}... (${VALUE_CHARS} characters)`);
});

test('the bounds keep every value keyway takes whole: the longest endpoint id, a weight of MAX_WEIGHT_TEXT_CHARS', () => {
  assert.ok(ENDPOINT_ID_PATTERN.test('a'.repeat(MAX_ENDPOINT_ID_CHARS)) && !ENDPOINT_ID_PATTERN.test('a'.repeat(MAX_ENDPOINT_ID_CHARS + 1)), 'MAX_ENDPOINT_ID_CHARS is the pattern\'s');
  const config = parseKubernetesSourceConfig(
    { value: { namespace: NS, services: [SERVICE], identity: 'annotation:example.com/id' }, locate: (p) => ({ field: p.join('.') }) },
    { env: {}, serviceAccountNamespace: () => undefined },
  );
  const id = 'a'.repeat(MAX_ENDPOINT_ID_CHARS);
  const weight = `1.${'0'.repeat(MAX_WEIGHT_TEXT_CHARS - 2)}`;
  assert.equal(parseWeight(weight), 1);
  assert.equal(parseWeight(`${weight}0`), undefined, 'one more character is refused');
  const pod = podObject('p', { node: 'n', ip: '10.0.0.1', annotations: { 'keyway.io/weight': weight, 'example.com/id': id } }) as unknown as V1Pod;
  assert.deepEqual(podTrim(config)(pod).metadata?.annotations, { 'keyway.io/weight': weight, 'example.com/id': id });
});

test('clipValue of a clipped value is that value: a problem on a trimmed pod quotes what one on the whole pod does', () => {
  for (const text of ['short', 'y'.repeat(MAX_PROBLEM_VALUE_CHARS), 'z'.repeat(MAX_PROBLEM_VALUE_CHARS + 1), 'w'.repeat(300_000)]) {
    assert.equal(clipValue(clipValue(text)), clipValue(text));
  }
});
