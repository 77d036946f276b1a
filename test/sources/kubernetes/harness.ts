/**
 * Drives the Kubernetes source against the in-process API server the way a cluster would change:
 * pods come and go, the EndpointSlice controller rewrites the slice, nodes are relabelled.
 */
import { afterEach, beforeEach } from 'node:test';
import { Writable } from 'node:stream';
import type { KubeConfig } from '@kubernetes/client-node';
import { pino } from 'pino';
import type { Endpoint } from '../../../src/core/endpoint.js';
import {
  createKubernetesSource,
  type KubernetesSource,
  type KubernetesSourceConfig,
  parseKubernetesSourceConfig,
  type StartClock,
} from '../../../src/sources/kubernetes/index.js';
import type { BackoffOptions } from '../../../src/sources/kubernetes/backoff.js';
import type { ListAnswerBudget } from '../../../src/sources/kubernetes/bounded-http.js';
import { KubeApiServer } from '../../support/kube-apiserver/index.js';
import { nodeObject, type NodeSpec, NS, podObject, type PodSpec, SERVICE, type SliceEndpoint, sliceObject } from './fixtures.js';

/** Fast timing for tests: short debounce and backoff, bounded waits. */
export const TEST_SETTINGS = { namespace: NS, services: [SERVICE], portName: 'cache', holdOffMs: 30, maxDelayMs: 300 };

interface Member {
  readonly pod: string;
  readonly ip: string;
  readonly node: string;
  ready: boolean;
  serving: boolean;
  terminating: boolean;
}

/** A cluster: nodes, cache-node pods, and one EndpointSlice for the Service kept like the controller does. */
export class Cluster {
  private readonly members = new Map<string, Member>();
  private readonly pods = new Map<string, PodSpec>();
  readonly sliceName = `${SERVICE}-x7k2p`;

  constructor(readonly server: KubeApiServer) {}

  static async start(): Promise<Cluster> {
    return new Cluster(await KubeApiServer.start());
  }

  node(name: string, spec: NodeSpec): void {
    this.server.upsert(nodeObject(name, spec));
  }

  /** A pod that becomes ready at once (listed ready in the slice). */
  addPod(name: string, spec: PodSpec, publish = true): void {
    this.pods.set(name, spec);
    this.server.upsert(podObject(name, spec));
    this.members.set(name, { pod: name, ip: spec.ip, node: spec.node, ready: true, serving: true, terminating: false });
    if (publish) this.publishSlice();
  }

  updatePod(name: string, change: Partial<PodSpec>): void {
    const spec = { ...this.pods.get(name)!, ...change };
    this.pods.set(name, spec);
    this.server.upsert(podObject(name, spec));
  }

  /** Sets the slice conditions of a pod, as the EndpointSlice controller does from pod status. */
  setConditions(name: string, c: Partial<Pick<Member, 'ready' | 'serving' | 'terminating'>>): void {
    Object.assign(this.members.get(name)!, c);
    this.publishSlice();
  }

  /** The pod is gone: removed from the slice and deleted. */
  removePod(name: string): void {
    this.members.delete(name);
    this.pods.delete(name);
    this.publishSlice();
    this.server.remove('Pod', NS, name);
  }

  publishSlice(): void {
    const eps: SliceEndpoint[] = [...this.members.values()].map((m) => ({ ...m }));
    this.server.upsert(sliceObject(this.sliceName, eps));
  }

  close(): Promise<void> {
    return this.server.close();
  }
}

export interface RunningSource {
  readonly source: KubernetesSource;
  /** Every list passed to onChange, in order. */
  readonly changes: (readonly Endpoint[])[];
  /** Log records (pino JSON). */
  readonly logs: Record<string, unknown>[];
  readonly config: KubernetesSourceConfig;
}

/** Starts a source against `server` with test timing; `settings` overrides the `kubernetes:` section. */
export async function startSource(
  server: KubeApiServer,
  settings: Record<string, unknown> = {},
  extra: {
    /** Sets both startTimeoutMs and startMaxMs (a start that must end by then); default 5000. */
    initialSyncTimeoutMs?: number;
    /** How long a first list may go without a page (kubernetes.startTimeoutMs). */
    startTimeoutMs?: number;
    /** The longest the first lists may take in all (kubernetes.startMaxMs). */
    startMaxMs?: number;
    /** The clock of start()'s timeouts. */
    clock?: StartClock;
    minWatchTimeoutSeconds?: number;
    listTimeoutMs?: number;
    /** Objects per list page; default the source's (500). */
    listPageSize?: number;
    watchGraceMs?: number;
    /** Longest watch event line; default the source's (MAX_WATCH_LINE_BYTES). */
    maxWatchLineBytes?: number;
    /** Largest list answer; default the source's (MAX_LIST_RESPONSE_BYTES). */
    maxListResponseBytes?: number;
    /** The list answer budget the informers share; default the source's own. */
    listAnswerBudget?: ListAnswerBudget;
    backoff?: BackoffOptions;
    /** Reach the server another way (through a proxy); default server.kubeConfig(). */
    kubeConfig?: KubeConfig;
  } = {},
): Promise<RunningSource> {
  const { logs, logger } = capturedLogger();
  const config = testConfig(settings);
  const source = createKubernetesSource(config, {
    kubeConfig: extra.kubeConfig ?? server.kubeConfig(),
    logger,
    startTimeoutMs: extra.startTimeoutMs ?? extra.initialSyncTimeoutMs ?? 5000,
    startMaxMs: extra.startMaxMs ?? extra.initialSyncTimeoutMs ?? 5000,
    ...(extra.clock ? { clock: extra.clock } : {}),
    timing: {
      backoff: extra.backoff ?? { initialMs: 20, maxMs: 200 },
      listTimeoutMs: extra.listTimeoutMs ?? 2000,
      minWatchTimeoutSeconds: extra.minWatchTimeoutSeconds ?? 60,
      watchGraceMs: extra.watchGraceMs ?? 1000,
      ...(extra.listPageSize !== undefined ? { listPageSize: extra.listPageSize } : {}),
      ...(extra.maxWatchLineBytes !== undefined ? { maxWatchLineBytes: extra.maxWatchLineBytes } : {}),
      ...(extra.maxListResponseBytes !== undefined ? { maxListResponseBytes: extra.maxListResponseBytes } : {}),
      ...(extra.listAnswerBudget !== undefined ? { listAnswerBudget: extra.listAnswerBudget } : {}),
    },
  });
  const changes: (readonly Endpoint[])[] = [];
  source.onChange((eps) => changes.push(eps));
  await source.start();
  return { source, changes, logs, config };
}

/** The standard endpoint record for a pod, as the tests expect it. */
export function ep(id: string, address: string, locality: [string, string, string], weight: number, ready = true): Endpoint {
  return { id, address, port: 8080, locality: { region: locality[0], zone: locality[1], subzone: locality[2] }, weight, ready };
}

/** What one test of a file started; `stopAfterEach` stops it (the source first, then the fake API server). */
export interface StartedForTest {
  server?: KubeApiServer;
  running?: RunningSource;
}

/** Registers, for the calling test file, a stop after each test of what that test started. */
export function stopAfterEach(): StartedForTest {
  const started: StartedForTest = {};
  afterEach(async () => {
    await started.running?.source.stop();
    started.running = undefined;
    await started.server?.close();
    started.server = undefined;
  });
  return started;
}

/**
 * Registers, for the calling test file, a fresh fake API server before each test with node gpu-1
 * and pods cache-node-0 and cache-node-1 on it (10.0.0.10 and 10.0.0.11), stopped after it.
 */
export function twoPodsEachTest(): StartedForTest {
  const started = stopAfterEach();
  beforeEach(async () => {
    const server = await KubeApiServer.start();
    server.upsert(nodeObject('gpu-1', { region: 'r', zone: 'z' }));
    for (const i of [0, 1]) server.upsert(podObject(`cache-node-${i}`, { node: 'gpu-1', ip: `10.0.0.${10 + i}` }));
    started.server = server;
  });
  return started;
}

/** A pino logger at debug whose JSON lines are parsed into `logs`, for tests that read what the source logged. */
export function capturedLogger(): { logs: Record<string, unknown>[]; logger: pino.Logger } {
  const logs: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const line of chunk.toString().split('\n')) if (line.trim()) logs.push(JSON.parse(line) as Record<string, unknown>);
      cb();
    },
  });
  return { logs, logger: pino({ level: 'debug' }, sink) };
}

/** The `kubernetes:` section of TEST_SETTINGS with `settings` over it, parsed as keyway parses the file. */
export function testConfig(settings: Record<string, unknown> = {}): ReturnType<typeof parseKubernetesSourceConfig> {
  return parseKubernetesSourceConfig(
    { value: { ...TEST_SETTINGS, ...settings }, locate: (path) => ({ field: `kubernetes.${path.join('.')}` }) },
    { env: {}, serviceAccountNamespace: () => undefined },
  );
}
