/**
 * What the Kubernetes source keeps in memory for a large cluster (docs/kubernetes-discovery.md
 * "Memory"). Its Nodes and Pods watches see whole objects, and a GPU node's is tens of kilobytes
 * (status.images, feature-discovery labels, managedFields) of which keyway reads a few labels.
 * This builds a fleet of such nodes (and a cache pod per node) in the in-process API server,
 * starts the real source, and measures the heap it retains after a forced GC.
 *
 * Prints the figure: node --import tsx --test test/sources/kubernetes/memory.test.ts
 */
import assert from 'node:assert/strict';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { eventually } from '../../support/eventually.js';
import { KubeApiServer, type StoredObject } from '../../support/kube-apiserver/index.js';
import { podObject, type SliceEndpoint, sliceObject } from './fixtures.js';
import { startSource } from './harness.js';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

/** Nodes in the fleet: enough that the per-node figure dwarfs the source's fixed costs. */
const NODES = 1000;
/** Images a node reports: kubelet's default cap is 50; GPU clusters often raise or lift it. */
const IMAGES_PER_NODE = 100;
/**
 * Most heap the source may keep per node and its cache pod. The old code kept the whole objects:
 * over 100 KB per node with the objects below.
 */
const MAX_BYTES_PER_NODE = 6 * 1024;

const hex = (seed: number, len: number): string => {
  let out = '';
  let x = seed >>> 0 || 1;
  while (out.length < len) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out += (x >>> 0).toString(16).padStart(8, '0');
  }
  return out.slice(0, len);
};

/** A Node shaped like a GPU node of a managed cluster with the GPU operator (kubelet, NFD, GFD). */
function gpuNode(i: number): StoredObject {
  const name = `gpu-node-${String(i).padStart(5, '0')}`;
  const labels: Record<string, string> = {
    'kubernetes.io/hostname': name,
    'kubernetes.io/arch': 'amd64',
    'kubernetes.io/os': 'linux',
    'node.kubernetes.io/instance-type': 'p5.48xlarge',
    'topology.kubernetes.io/region': 'us-east-1',
    'topology.kubernetes.io/zone': `us-east-1${'abc'[i % 3]}`,
    'nvidia.com/gpu.clique': `clique-${i % 64}.${i % 4}`,
    'nvidia.com/gpu.memory': '81559',
    'nvidia.com/gpu.count': '8',
    'nvidia.com/gpu.product': 'NVIDIA-H100-80GB-HBM3',
    'nvidia.com/cuda.driver.major': '550',
    'nvidia.com/cuda.driver.minor': '90',
    'nvidia.com/cuda.driver.rev': '07',
    'nvidia.com/gfd.timestamp': String(1_700_000_000 + i),
  };
  for (let f = 0; f < 90; f++) labels[`feature.node.kubernetes.io/cpu-cpuid.FEATURE_${f}`] = 'true';
  const images = Array.from({ length: IMAGES_PER_NODE }, (_, k) => {
    const repo = `nvcr.io/nvidia/${['pytorch', 'tritonserver', 'tensorrt-llm', 'nemo', 'cuda', 'k8s/dcgm-exporter'][k % 6]}-${k}`;
    return { names: [`${repo}@sha256:${hex(i * 1000 + k, 64)}`, `${repo}:24.${k % 12}-py3-${hex(k, 6)}`], sizeBytes: 9_000_000_000 + k * 1_000_003 };
  });
  const managedFields = ['kubelet', 'nfd-master', 'gpu-feature-discovery', 'kube-controller-manager', 'aws-node'].map((manager, m) => ({
    manager,
    operation: 'Update',
    apiVersion: 'v1',
    time: '2024-05-01T10:00:00Z',
    fieldsType: 'FieldsV1',
    fieldsV1: { 'f:metadata': { 'f:labels': Object.fromEntries(Object.keys(labels).slice(m * 20, m * 20 + 30).map((k) => [`f:${k}`, {}])) } },
    ...(m === 0 ? { subresource: 'status' } : {}),
  }));
  const condition = (type: string, status: string): Record<string, string> => ({
    type,
    status,
    lastHeartbeatTime: '2024-05-01T10:00:00Z',
    lastTransitionTime: '2024-04-01T10:00:00Z',
    reason: `Kubelet${type}`,
    message: `kubelet reports ${type} ${status}`,
  });
  return {
    kind: 'Node',
    apiVersion: 'v1',
    metadata: {
      name,
      labels,
      annotations: {
        'node.alpha.kubernetes.io/ttl': '0',
        'volumes.kubernetes.io/controller-managed-attach-detach': 'true',
        'nfd.node.kubernetes.io/feature-labels': Object.keys(labels).filter((k) => k.startsWith('feature.')).join(','),
        'csi.volume.kubernetes.io/nodeid': JSON.stringify({ 'ebs.csi.aws.com': `i-${hex(i, 17)}` }),
      },
      managedFields,
    },
    spec: { providerID: `aws:///us-east-1a/i-${hex(i, 17)}`, podCIDR: `10.${i >> 8}.${i & 255}.0/24`, taints: [{ key: 'nvidia.com/gpu', effect: 'NoSchedule' }] },
    status: {
      capacity: { cpu: '192', memory: '2097152000Ki', 'nvidia.com/gpu': '8', 'ephemeral-storage': '3750000000Ki', pods: '110' },
      allocatable: { cpu: '191450m', memory: '2090000000Ki', 'nvidia.com/gpu': '8', 'ephemeral-storage': '3450000000Ki', pods: '110' },
      conditions: [condition('MemoryPressure', 'False'), condition('DiskPressure', 'False'), condition('PIDPressure', 'False'), condition('Ready', 'True')],
      addresses: [
        { type: 'InternalIP', address: `10.1.${i >> 8}.${i & 255}` },
        { type: 'Hostname', address: `ip-10-1-${i >> 8}-${i & 255}.ec2.internal` },
      ],
      daemonEndpoints: { kubeletEndpoint: { Port: 10250 } },
      nodeInfo: {
        machineID: hex(i, 32),
        systemUUID: hex(i + 7, 32),
        bootID: hex(i + 9, 36),
        kernelVersion: '5.10.215-203.850.amzn2.x86_64',
        osImage: 'Amazon Linux 2',
        containerRuntimeVersion: 'containerd://1.7.11',
        kubeletVersion: 'v1.29.3-eks-ae9a62a',
        kubeProxyVersion: 'v1.29.3-eks-ae9a62a',
        operatingSystem: 'linux',
        architecture: 'amd64',
      },
      images,
    },
  };
}

/** A cache pod as a StatefulSet writes it, with the status kubelet reports. */
function cachePod(i: number): StoredObject {
  const name = `cache-node-${i}`;
  const pod = podObject(name, { node: `gpu-node-${String(i).padStart(5, '0')}`, ip: ip(i) });
  return {
    ...pod,
    metadata: {
      ...pod.metadata,
      generateName: 'cache-node-',
      labels: { ...pod.metadata.labels, 'apps.kubernetes.io/pod-index': String(i), 'controller-revision-hash': 'cache-node-5d9f8b7c6d', 'statefulset.kubernetes.io/pod-name': name },
      annotations: { 'kubectl.kubernetes.io/restartedAt': '2024-05-01T10:00:00Z' },
      ownerReferences: [{ apiVersion: 'apps/v1', kind: 'StatefulSet', name: 'cache-node', uid: 'sts-uid', controller: true, blockOwnerDeletion: true }],
      managedFields: [{ manager: 'kube-controller-manager', operation: 'Update', apiVersion: 'v1', time: '2024-05-01T10:00:00Z', fieldsType: 'FieldsV1', fieldsV1: { 'f:spec': { 'f:containers': {} } } }],
    },
    spec: {
      nodeName: `gpu-node-${String(i).padStart(5, '0')}`,
      containers: [
        {
          name: 'cache',
          image: `registry.example/cache-node@sha256:${hex(42, 64)}`,
          env: Array.from({ length: 20 }, (_, e) => ({ name: `CACHE_SETTING_${e}`, value: `value-${e}-${hex(e, 24)}` })),
          resources: { limits: { 'nvidia.com/gpu': '8' }, requests: { cpu: '32', memory: '256Gi' } },
          volumeMounts: [{ name: 'kube-api-access', mountPath: '/var/run/secrets/kubernetes.io/serviceaccount', readOnly: true }],
        },
      ],
      volumes: [{ name: 'kube-api-access', projected: { sources: [{ serviceAccountToken: { expirationSeconds: 3607, path: 'token' } }] } }],
      tolerations: [{ key: 'nvidia.com/gpu', operator: 'Exists', effect: 'NoSchedule' }],
    },
    status: {
      phase: 'Running',
      podIP: ip(i),
      hostIP: `10.1.${i >> 8}.${i & 255}`,
      conditions: ['Initialized', 'Ready', 'ContainersReady', 'PodScheduled'].map((type) => ({ type, status: 'True', lastTransitionTime: '2024-05-01T10:00:00Z' })),
      containerStatuses: [{ name: 'cache', ready: true, restartCount: 0, image: 'registry.example/cache-node:1', imageID: `registry.example/cache-node@sha256:${hex(42, 64)}`, containerID: `containerd://${hex(i, 64)}`, started: true, state: { running: { startedAt: '2024-05-01T10:00:00Z' } } }],
    },
  };
}

function ip(i: number): string {
  return `10.200.${i >> 8}.${i & 255}`;
}

/** The heap after a full GC. The server's event history (whole objects) is dropped first: it is not the source's. */
async function settledHeap(server: KubeApiServer): Promise<number> {
  server.compact();
  for (let k = 0; k < 3; k++) {
    gc();
    await sleep(20);
  }
  gc();
  return process.memoryUsage().heapUsed;
}

test(`the source keeps a few KB per node, not the whole Node and Pod objects (${NODES} GPU nodes, ${IMAGES_PER_NODE} images each)`, { timeout: 120_000 }, async (t) => {
  const server = await KubeApiServer.start();
  try {
    const eps: SliceEndpoint[] = [];
    for (let i = 0; i < NODES; i++) {
      server.upsert(gpuNode(i));
      server.upsert(cachePod(i));
      eps.push({ pod: `cache-node-${i}`, ip: ip(i), node: `gpu-node-${String(i).padStart(5, '0')}` });
    }
    // EndpointSlices hold at most 100 endpoints each, as the controller writes them.
    for (let s = 0; s * 100 < NODES; s++) server.upsert(sliceObject(`cache-node-${s}`, eps.slice(s * 100, s * 100 + 100)));
    const nodeJson = Buffer.byteLength(JSON.stringify(gpuNode(1)));
    const podJson = Buffer.byteLength(JSON.stringify(cachePod(1)));

    const before = await settledHeap(server);
    const running = await startSource(server, { holdOffMs: 0, maxDelayMs: 0 }, { initialSyncTimeoutMs: 60_000, listTimeoutMs: 60_000 });
    try {
      assert.equal(running.source.current().length, NODES);
      const first = running.source.current()[0]!;
      assert.equal(first.weight, 637.18, 'GPU labels still read (81559 MiB x 8)');
      assert.match(first.locality.subzone, /^clique-/);
      // Objects that arrive by watch are kept too: status updates of half the nodes, then a relabel
      // (watch events come in order, so once it shows, the updates before it are in the cache).
      for (let i = 1; i < NODES; i += 2) server.upsert(gpuNode(i));
      const moved = gpuNode(0);
      moved.metadata.labels!['nvidia.com/gpu.clique'] = 'clique-moved';
      server.upsert(moved);
      const movedIn = (): boolean => running.source.current().find((e) => e.id === 'cache-node-0')?.locality.subzone === 'clique-moved';
      await eventually('the relabelled node', movedIn, { timeoutMs: 30_000 });
      const after = await settledHeap(server);
      const perNode = (after - before) / NODES;
      t.diagnostic(`Node object ${Math.round(nodeJson / 1024)} KB of JSON, cache Pod ${Math.round(podJson / 1024)} KB; heap the source retains: ${Math.round((after - before) / 1024 / 1024)} MB, ${(perNode / 1024).toFixed(1)} KB per node and its pod`);
      assert.ok(perNode < MAX_BYTES_PER_NODE, `the source retains ${(perNode / 1024).toFixed(1)} KB per node; at most ${MAX_BYTES_PER_NODE / 1024} KB expected`);
    } finally {
      await running.source.stop();
    }
  } finally {
    await server.close();
  }
});
