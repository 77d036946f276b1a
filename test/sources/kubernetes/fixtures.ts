/**
 * Cluster objects for the Kubernetes source tests, shaped like what kube-apiserver serves: Nodes
 * with topology and GPU Feature Discovery labels, cache-node Pods, and EndpointSlices as the
 * EndpointSlice controller writes them (label kubernetes.io/service-name, targetRef to the pod).
 */
import type { KubeApiServer, StoredObject } from '../../support/kube-apiserver/index.js';

export const NS = 'cache';
export const SERVICE = 'cache-node';
export const PORT = 8080;

export interface NodeSpec {
  readonly region?: string;
  readonly zone?: string;
  readonly clique?: string;
  readonly gpuMemoryMiB?: string;
  readonly gpuCount?: string;
  readonly labels?: Record<string, string>;
}

export function nodeObject(name: string, spec: NodeSpec = {}): StoredObject {
  const labels: Record<string, string> = { 'kubernetes.io/hostname': name, ...spec.labels };
  if (spec.region !== undefined) labels['topology.kubernetes.io/region'] = spec.region;
  if (spec.zone !== undefined) labels['topology.kubernetes.io/zone'] = spec.zone;
  if (spec.clique !== undefined) labels['nvidia.com/gpu.clique'] = spec.clique;
  if (spec.gpuMemoryMiB !== undefined) labels['nvidia.com/gpu.memory'] = spec.gpuMemoryMiB;
  if (spec.gpuCount !== undefined) labels['nvidia.com/gpu.count'] = spec.gpuCount;
  return { kind: 'Node', apiVersion: 'v1', metadata: { name, labels }, spec: {}, status: {} };
}

export interface PodSpec {
  readonly node: string;
  readonly ip: string;
  readonly annotations?: Record<string, string>;
  readonly labels?: Record<string, string>;
  /** Set when the pod is being deleted (what `kubectl delete` does before the grace period ends). */
  readonly deletionTimestamp?: string;
  /** Default `uid-<name>`, as sliceObject's targetRef says. */
  readonly uid?: string;
}

export function podObject(name: string, spec: PodSpec): StoredObject {
  return {
    kind: 'Pod',
    apiVersion: 'v1',
    metadata: {
      name,
      namespace: NS,
      // The uid sliceObject's targetRef names; a pod recreated under the same name gets another.
      uid: spec.uid ?? `uid-${name}`,
      labels: { app: SERVICE, ...spec.labels },
      ...(spec.annotations ? { annotations: spec.annotations } : {}),
      ...(spec.deletionTimestamp ? { deletionTimestamp: spec.deletionTimestamp } : {}),
    },
    spec: { nodeName: spec.node, containers: [{ name: 'cache', image: 'cache:1' }] },
    status: { phase: 'Running', podIP: spec.ip },
  };
}

export interface SliceEndpoint {
  readonly pod: string;
  readonly ip: string;
  readonly node: string;
  readonly ready?: boolean;
  readonly serving?: boolean;
  readonly terminating?: boolean;
  readonly zone?: string;
}

export interface SliceOptions {
  readonly service?: string;
  readonly ports?: readonly { name?: string; port?: number }[];
  readonly addressType?: 'IPv4' | 'IPv6' | 'FQDN';
}

export function sliceObject(name: string, endpoints: readonly SliceEndpoint[], options: SliceOptions = {}): StoredObject {
  const service = options.service ?? SERVICE;
  return {
    kind: 'EndpointSlice',
    apiVersion: 'discovery.k8s.io/v1',
    metadata: {
      name,
      namespace: NS,
      labels: { 'kubernetes.io/service-name': service, 'endpointslice.kubernetes.io/managed-by': 'endpointslice-controller.k8s.io' },
      ownerReferences: [{ apiVersion: 'v1', kind: 'Service', name: service, uid: `svc-${service}`, controller: true, blockOwnerDeletion: true }],
    },
    addressType: options.addressType ?? 'IPv4',
    endpoints: endpoints.map((e) => ({
      addresses: [e.ip],
      conditions: {
        ready: e.ready ?? true,
        serving: e.serving ?? e.ready ?? true,
        terminating: e.terminating ?? false,
      },
      nodeName: e.node,
      ...(e.zone !== undefined ? { zone: e.zone } : {}),
      targetRef: { kind: 'Pod', namespace: NS, name: e.pod, uid: `uid-${e.pod}` },
    })),
    ports: (options.ports ?? [{ name: 'cache', port: PORT }]).map((p) => ({ ...p, protocol: 'TCP' })),
  };
}

/** `count` cache pods on one node, all in the Service's slice (the list-paging tests). */
export function populate(s: KubeApiServer, count: number): void {
  s.upsert(nodeObject('gpu-1', { region: 'r', zone: 'z' }));
  const members: SliceEndpoint[] = [];
  for (let i = 0; i < count; i++) {
    const name = `cache-node-${String(i).padStart(3, '0')}`;
    const ip = `10.0.${Math.floor(i / 200)}.${(i % 200) + 1}`;
    s.upsert(podObject(name, { node: 'gpu-1', ip }));
    members.push({ pod: name, ip, node: 'gpu-1' });
  }
  s.upsert(sliceObject('cache-node-abcde', members));
}

export const podLists = (s: KubeApiServer) => s.requests.filter((r) => r.verb === 'list' && r.resource === 'pods');
