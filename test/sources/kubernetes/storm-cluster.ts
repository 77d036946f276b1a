/**
 * A cluster at fleet scale for the event-storm tests: many nodes, a StatefulSet of cache pods
 * spread over EndpointSlices of 100 endpoints each, kept the way the EndpointSlice controller keeps
 * them (each pod stays in its slice; a recreated pod gets a new uid), and the storms real clusters
 * make: a rolling restart, a node drain, and updates that change nothing keyway reads.
 */
import type { KubeApiServer, StoredObject } from '../../support/kube-apiserver/index.js';
import type { Endpoint } from '../../../src/core/endpoint.js';
import { NS, nodeObject, PORT, SERVICE } from './fixtures.js';

interface StormPod {
  readonly name: string;
  readonly slice: number;
  node: string;
  ip: string;
  uid: string;
  generation: number;
  deleting: boolean;
  /** Listed in its slice (absent between the old pod's removal and the new pod's entry). */
  listed: boolean;
  ready: boolean;
  serving: boolean;
  terminating: boolean;
  /** A pod status change keyway does not read (restart counts, conditions' timestamps). */
  heartbeat: number;
}

export const PER_SLICE = 100;

export class StormCluster {
  readonly pods: StormPod[] = [];
  readonly nodes: string[] = [];
  private nodeBeat = 0;

  constructor(
    readonly server: KubeApiServer,
    podCount: number,
    readonly nodeCount: number,
  ) {
    for (let n = 0; n < nodeCount; n++) {
      const name = `gpu-${n}`;
      this.nodes.push(name);
      this.server.upsert(this.nodeObject(name));
    }
    for (let i = 0; i < podCount; i++) {
      const pod: StormPod = {
        name: `cache-node-${i}`,
        slice: Math.floor(i / PER_SLICE),
        node: this.nodes[i % nodeCount]!,
        ip: ip(i, 0),
        uid: `uid-cache-node-${i}-0`,
        generation: 0,
        deleting: false,
        listed: true,
        ready: true,
        serving: true,
        terminating: false,
        heartbeat: 0,
      };
      this.pods.push(pod);
      this.server.upsert(this.podObject(pod));
    }
    for (let s = 0; s * PER_SLICE < podCount; s++) this.publishSlice(s);
  }

  sliceCount(): number {
    return Math.ceil(this.pods.length / PER_SLICE);
  }

  /** The endpoints the cluster's state should give once keyway has caught up. */
  expected(): Endpoint[] {
    return this.pods
      .filter((p) => p.listed)
      .map((p) => ({
        id: p.name,
        address: p.ip,
        port: PORT,
        locality: { region: 'r1', zone: zoneOf(p.node), subzone: cliqueOf(p.node) },
        weight: 640,
        ready: p.ready && p.serving && !p.terminating && !p.deleting,
        ...(!p.ready && (p.terminating || p.deleting) && p.serving ? { draining: true } : {}),
      }))
      .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }

  /** Step 1 of a pod's restart: deletion starts (the pod gets a deletionTimestamp, the slice says terminating). */
  beginDelete(pod: StormPod): void {
    pod.deleting = true;
    this.server.upsert(this.podObject(pod));
    Object.assign(pod, { ready: false, terminating: true });
    this.publishSlice(pod.slice);
  }

  /** Step 2: the pod stops serving, is removed from its slice and deleted. */
  finishDelete(pod: StormPod): void {
    pod.serving = false;
    this.publishSlice(pod.slice);
    pod.listed = false;
    this.publishSlice(pod.slice);
    this.server.remove('Pod', NS, pod.name);
  }

  /** Step 3: the StatefulSet controller recreates the pod (new uid, maybe another node and IP); it starts not ready. */
  recreate(pod: StormPod, node = pod.node): void {
    pod.generation++;
    Object.assign(pod, { node, ip: ip(this.pods.indexOf(pod), pod.generation), uid: `uid-${pod.name}-${pod.generation}`, deleting: false });
    this.server.upsert(this.podObject(pod));
    Object.assign(pod, { listed: true, ready: false, serving: false, terminating: false });
    this.publishSlice(pod.slice);
  }

  /** Step 4: the readiness probe passes: the pod's status changes, then its slice entry. */
  becomeReady(pod: StormPod): void {
    pod.heartbeat++;
    this.server.upsert(this.podObject(pod));
    Object.assign(pod, { ready: true, serving: true });
    this.publishSlice(pod.slice);
  }

  /** A pod status update keyway does not read (the object's resourceVersion changes, nothing else it keeps). */
  heartbeat(pod: StormPod): void {
    pod.heartbeat++;
    this.server.upsert(this.podObject(pod));
  }

  /** A Node status update keyway does not read (kubelet reports status every few minutes per node). */
  nodeHeartbeat(name: string): void {
    this.nodeBeat++;
    this.server.upsert(this.nodeObject(name));
  }

  /** A pod of another app in the namespace (a job), never behind the Service. */
  unrelatedPod(name: string, beat: number): void {
    this.server.upsert({
      kind: 'Pod',
      apiVersion: 'v1',
      metadata: { name, namespace: NS, uid: `uid-${name}`, labels: { app: 'batch' } },
      spec: { nodeName: this.nodes[0], containers: [{ name: 'job', image: 'job:1' }] },
      status: { phase: 'Running', containerStatuses: [{ name: 'job', restartCount: beat }] },
    });
  }

  nodeObject(name: string): StoredObject {
    const o = nodeObject(name, { region: 'r1', zone: zoneOf(name), clique: cliqueOf(name), gpuMemoryMiB: '81920', gpuCount: '8' });
    return { ...o, status: { conditions: [{ type: 'Ready', status: 'True', lastHeartbeatTime: new Date(this.nodeBeat * 1000).toISOString() }] } };
  }

  podObject(pod: StormPod): StoredObject {
    return {
      kind: 'Pod',
      apiVersion: 'v1',
      metadata: {
        name: pod.name,
        namespace: NS,
        uid: pod.uid,
        labels: { app: SERVICE },
        ...(pod.deleting ? { deletionTimestamp: '2026-12-07T00:00:00Z' } : {}),
      },
      spec: { nodeName: pod.node, containers: [{ name: 'cache', image: 'cache:1' }] },
      status: { phase: 'Running', podIP: pod.ip, containerStatuses: [{ name: 'cache', restartCount: pod.heartbeat }] },
    };
  }

  publishSlice(s: number): void {
    const members = this.pods.filter((p) => p.slice === s && p.listed);
    this.server.upsert({
      kind: 'EndpointSlice',
      apiVersion: 'discovery.k8s.io/v1',
      metadata: {
        name: `${SERVICE}-s${String(s).padStart(3, '0')}`,
        namespace: NS,
        labels: { 'kubernetes.io/service-name': SERVICE, 'endpointslice.kubernetes.io/managed-by': 'endpointslice-controller.k8s.io' },
      },
      addressType: 'IPv4',
      endpoints: members.map((p) => ({
        addresses: [p.ip],
        conditions: { ready: p.ready, serving: p.serving, terminating: p.terminating },
        nodeName: p.node,
        targetRef: { kind: 'Pod', namespace: NS, name: p.name, uid: p.uid },
      })),
      ports: [{ name: 'cache', port: PORT, protocol: 'TCP' }],
    });
  }
}

function ip(i: number, generation: number): string {
  return `10.${generation % 200}.${Math.floor(i / 250)}.${(i % 250) + 1}`;
}

function zoneOf(node: string): string {
  return Number(node.slice(4)) % 2 === 0 ? 'z1' : 'z2';
}

function cliqueOf(node: string): string {
  return `fab-${Math.floor(Number(node.slice(4)) / 18)}`;
}
