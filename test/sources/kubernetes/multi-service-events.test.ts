/**
 * The live source under random event orders (seeded): pods in several Services, slices moved
 * between Services or deleted and re-created under another name, pods recreated with a new uid,
 * nodes relabelled, watches expired midway. Whatever order the events come in, once they stop the
 * source must publish what the cluster's final state gives (discoverEndpoints over the objects the
 * API server holds): a change dropped by the filters that skip unrelated pods and nodes, or a
 * relist that left a stale object, would keep a wrong topology for good.
 */
import { test } from 'node:test';
import type { V1EndpointSlice, V1Node, V1Pod } from '@kubernetes/client-node';
import { discoverEndpoints } from '../../../src/sources/kubernetes/endpoints.js';
import { KubeApiServer, type StoredObject } from '../../support/kube-apiserver/index.js';
import { resourceByKind } from '../../support/kube-apiserver/resources.js';
import { eventually } from '../../support/eventually.js';
import { fuzzBudget, Rng } from '../../support/seeded-random.js';
import { nodeObject, NS, podObject, sliceObject } from './fixtures.js';
import { type RunningSource, startSource, stopAfterEach } from './harness.js';

const started = stopAfterEach();
const SERVICES = ['cache-a', 'cache-b', 'other'];
const PODS = 6;
const NODES = 3;

function randomPod(rng: Rng, p: number): StoredObject {
  return podObject(`p${p}`, {
    node: `gpu-${rng.int(NODES)}`,
    ip: `10.0.0.${p}`,
    uid: `uid-p${p}-${rng.int(2)}`,
    ...(rng.next() < 0.4 ? { annotations: { 'keyway.io/weight': String(1 + rng.int(3)) } } : {}),
    ...(rng.next() < 0.15 ? { deletionTimestamp: '2026-12-07T00:00:00Z' } : {}),
  });
}

function randomSlice(rng: Rng, name: string): StoredObject {
  const eps = [];
  for (let k = 0, n = rng.int(4); k < n; k++) {
    const p = rng.int(PODS);
    eps.push({ pod: `p${p}`, ip: `10.0.0.${rng.next() < 0.8 ? p : rng.int(PODS)}`, node: `gpu-${rng.int(NODES)}`, ready: rng.next() < 0.7 });
  }
  const s = sliceObject(name, eps, { service: SERVICES[rng.int(SERVICES.length)]!, ports: [{ name: 'cache', port: 8080 + rng.int(2) }] });
  // Pods are recreated under their name with another uid: the slice names one of the two.
  (s.endpoints as { targetRef: { uid: string; name: string } }[]).forEach((e) => (e.targetRef.uid = `uid-${e.targetRef.name}-${rng.int(2)}`));
  return s;
}

/** Waits until the source publishes what the API server's objects give. */
async function settled(server: KubeApiServer, running: RunningSource, what: string): Promise<void> {
  const want = JSON.stringify(expected(server, running.config));
  await eventually(`${what} settles on the final state`, () => JSON.stringify(running.source.current()) === want, {
    timeoutMs: 5000,
    describe: () => ({ want: JSON.parse(want) as unknown, got: running.source.current() }),
  });
}

/** The endpoints the objects the API server holds give. */
function expected(server: KubeApiServer, config: Parameters<typeof discoverEndpoints>[1]): unknown {
  const all = (kind: string): unknown => server.store.list(resourceByKind(kind));
  return discoverEndpoints(
    { slices: all('EndpointSlice') as V1EndpointSlice[], pods: all('Pod') as V1Pod[], nodes: all('Node') as V1Node[] },
    config,
  ).endpoints;
}

test('after random events in random orders, the source publishes what the final cluster state gives', { timeout: 120_000 }, async () => {
  const { iterations, seed } = fuzzBudget(12);
  for (let i = 0; i < iterations; i++) {
    const rng = new Rng(seed * 7919 + i);
    const server = (started.server = await KubeApiServer.start());
    for (let n = 0; n < NODES; n++) server.upsert(nodeObject(`gpu-${n}`, { region: 'r', zone: `z${n}`, gpuMemoryMiB: '81920', gpuCount: String(1 + n) }));
    for (let p = 0; p < PODS; p++) server.upsert(randomPod(rng, p));
    for (let s = 0; s < 3; s++) server.upsert(randomSlice(rng, `slice-${s}`));
    const running = (started.running = await startSource(server, { services: ['cache-a', 'cache-b'] }));
    for (let step = 0; step < 60; step++) {
      const r = rng.next();
      if (r < 0.3) server.upsert(randomPod(rng, rng.int(PODS)));
      else if (r < 0.38) server.remove('Pod', NS, `p${rng.int(PODS)}`);
      else if (r < 0.7) server.upsert(randomSlice(rng, `slice-${rng.int(5)}`));
      else if (r < 0.8) server.remove('EndpointSlice', NS, `slice-${rng.int(5)}`);
      else if (r < 0.93) {
        const n = rng.int(NODES);
        server.upsert(nodeObject(`gpu-${n}`, { region: 'r', zone: `z${rng.int(3)}`, gpuMemoryMiB: '81920', gpuCount: String(1 + rng.int(4)) }));
      } else if (r < 0.97) server.expireWatches();
      if (rng.next() < 0.3) await new Promise((resolve) => setTimeout(resolve, rng.int(40)));
    }
    await settled(server, running, `case ${i} (seed ${seed})`);
    // Then lone node and pod changes, each after the source settled: nothing else recomputes for them.
    for (let step = 0; step < 4; step++) {
      if (rng.next() < 0.5) server.upsert(nodeObject(`gpu-${rng.int(NODES)}`, { region: 'r', zone: `z${rng.int(3)}`, gpuMemoryMiB: '81920', gpuCount: String(1 + rng.int(4)) }));
      else server.upsert(randomPod(rng, rng.int(PODS)));
      await settled(server, running, `case ${i} (seed ${seed}), lone change ${step}`);
    }
    await running.source.stop();
    started.running = undefined;
    await server.close();
    started.server = undefined;
  }
});
