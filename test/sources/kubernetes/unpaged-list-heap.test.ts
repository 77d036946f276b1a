/**
 * The unpaged list keyway falls back to when a continue token expires is held whole: its answer
 * bound (a part of the V8 heap limit, bounded-http.ts) must leave room for the answer as a string,
 * as parsed JSON and as the client library's objects, beside the rest of the process, so that a
 * list within the bound completes and one past it fails with the bound's error: never the process
 * aborting out of memory. With the shipped --max-old-space-size=384 and a fifth of the heap limit
 * as the bound (86 MiB), an unpaged list of ordinary pods just within it ran the process out of
 * heap. Slow for a unit test (about 30 s: 20 000 pods, a child process).
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { KubeApiServer } from '../../support/kube-apiserver/index.js';
import { listResponseBound } from '../../../src/sources/kubernetes/bounded-http.js';
import { NS, nodeObject, podObject, sliceObject } from './fixtures.js';

const MiB = 1024 * 1024;
/** The heap limit V8 sets for the shipped --max-old-space-size=384 (old space and young generation). */
const SHIPPED_HEAP_LIMIT = 432 * MiB;

/**
 * An ordinary pod of about 3 KB: many small fields (managed fields, env, volumes, conditions), as
 * pods of other workloads in the namespace are, none of which keyway keeps.
 */
function ordinaryPod(i: number) {
  const name = `worker-${String(i).padStart(6, '0')}`;
  const pod = podObject(name, { node: 'gpu-1', ip: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`, labels: { app: 'other', 'pod-template-hash': 'abc123def', tier: 'backend' } });
  const time = '2026-12-07T10:00:00Z';
  return {
    ...pod,
    metadata: {
      ...pod.metadata,
      ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'workers-abc', uid: `rs-${i}`, controller: true, blockOwnerDeletion: true }],
      managedFields: [0, 1, 2, 3].map((k) => ({
        manager: `kubelet-${k}`,
        operation: 'Update',
        apiVersion: 'v1',
        time,
        fieldsType: 'FieldsV1',
        fieldsV1: { 'f:status': { 'f:conditions': { [`k:{"type":"Ready${k}"}`]: { '.': {}, 'f:lastTransitionTime': {}, 'f:status': {}, 'f:type': {} } } } },
      })),
    },
    spec: {
      nodeName: 'gpu-1',
      containers: [
        {
          name: 'worker',
          image: 'worker:1',
          env: Array.from({ length: 12 }, (_, k) => ({ name: `ENV_${k}`, value: `value-${k}-${i}` })),
          volumeMounts: [0, 1, 2, 3].map((k) => ({ name: `vol-${k}`, mountPath: `/mnt/v${k}`, readOnly: true })),
        },
      ],
      volumes: [0, 1, 2, 3].map((k) => ({ name: `vol-${k}`, configMap: { name: `cm-${k}`, defaultMode: 420 } })),
    },
    status: {
      phase: 'Running',
      podIP: `10.0.0.1`,
      conditions: ['Initialized', 'Ready', 'ContainersReady', 'PodScheduled'].map((type) => ({ type, status: 'True', lastProbeTime: null, lastTransitionTime: time })),
      containerStatuses: [
        { name: 'worker', ready: true, restartCount: 0, image: 'worker:1', imageID: `docker-pullable://worker@sha256:${'a'.repeat(64)}`, containerID: `containerd://${'b'.repeat(64)}`, started: true, state: { running: { startedAt: time } } },
      ],
    },
  };
}

test('with the shipped heap size, an unpaged list just within its answer bound completes without running out of heap', { timeout: 240_000 }, async (t) => {
  const bound = listResponseBound('whole', SHIPPED_HEAP_LIMIT);
  // The second page's token has expired: the list falls back to one unpaged list.
  const server = await KubeApiServer.start({ continueExpiresAtPage: 2 });
  t.after(() => server.close());
  server.upsert(nodeObject('gpu-1', { region: 'r', zone: 'z' }));
  server.upsert(sliceObject('cache-node-abcde', []));
  const add = (from: number, to: number): void => {
    for (let i = from; i < to; i++) server.upsert(ordinaryPod(i) as Parameters<KubeApiServer['upsert']>[0]);
  };
  const listBytes = async (): Promise<number> => (await (await fetch(`${server.url}/api/v1/namespaces/${NS}/pods`)).arrayBuffer()).byteLength;
  // Pods as the server stores and lists them, up to 1 MiB below the bound.
  const sample = 1000;
  add(0, sample);
  const podBytes = (await listBytes()) / sample;
  add(sample, Math.floor((bound - MiB) / podBytes));
  server.compact();
  const whole = await listBytes();
  assert.ok(whole <= bound && whole > bound - 4 * MiB, `the unpaged answer is ${whole} bytes, the bound ${bound}`);
  server.requests.length = 0;

  const child = spawn(
    process.execPath,
    ['--max-old-space-size=384', '--import', 'tsx', fileURLToPath(new URL('./unpaged-list-heap.child.ts', import.meta.url)), server.url],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) => child.on('exit', (c, s) => resolve([c, s])));
  assert.ok(!/heap out of memory/.test(stderr), `the child ran out of heap listing ${(whole / MiB).toFixed(1)} MiB unpaged (bound ${(bound / MiB).toFixed(1)} MiB)`);
  assert.equal(code, 0, `exit ${code} ${signal ?? ''}: ${stderr.slice(-2000)}`);
  const result = JSON.parse(stdout.trim().split('\n').pop()!) as { synced: boolean[]; warnings: string[] };
  assert.deepEqual(result.synced, [true, true, true]);
  const lists = server.requests.filter((r) => r.verb === 'list' && r.resource === 'pods');
  assert.ok(lists.some((r) => r.query.limit === undefined && r.status === 200), 'the pods arrived in one unpaged list');
  assert.ok(result.warnings.some((w) => w.includes('listing again in one request without paging')), 'after the continue token expired');
});
