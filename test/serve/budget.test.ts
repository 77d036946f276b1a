// The runner and the work budget (docs/security.md "Work budget"): Kubernetes endpoints past the
// budget keep the last good map and say why; a Kubernetes source still syncing holds back no
// reload, and one that fails to start leaves the endpoints in force.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, type RunningServer } from '../../src/app/index.js';
import { MAX_ENDPOINTS } from '../../src/core/limits.js';
import { KeywayError } from '../../src/core/errors.js';
import type { Endpoint } from '../../src/core/endpoint.js';
import { SetSource } from '../app/set-source.js';
import { captureLogs, tempTopology, topologyText } from './support.js';
import { eventually } from '../support/eventually.js';

const FAST = { debounce: { holdOffMs: 20, maxDelayMs: 100 }, pollIntervalMs: 100 };

/** A Kubernetes source stand-in whose start() resolves (or fails) when the test says. */
class GatedSource extends SetSource {
  stopped = false;
  #open: (() => void) | undefined;
  #fail: ((err: Error) => void) | undefined;
  readonly starting: Promise<void>;
  #begun: () => void = () => {};
  constructor(readonly gated: boolean) {
    super();
    this.starting = new Promise((resolve) => (this.#begun = resolve));
  }
  override start(): Promise<void> {
    this.#begun();
    if (!this.gated) return Promise.resolve();
    return new Promise((resolve, reject) => {
      this.#open = resolve;
      this.#fail = reject;
    });
  }
  open(endpoints: Endpoint[]): void {
    this.endpoints = endpoints;
    this.#open?.();
  }
  fail(err: Error): void {
    this.#fail?.(err);
  }
  override async stop() {
    this.stopped = true;
    this.#fail?.(new Error('stopped'));
  }
}

const pod = (i: number): Endpoint => ({
  id: `pod-${i}`,
  address: `10.2.${(i >> 8) & 255}.${i & 255}`,
  port: 8000,
  locality: { region: '', zone: `z${i % 2}`, subzone: '' },
  weight: 1,
  ready: true,
});
const pods = (n: number): Endpoint[] => Array.from({ length: n }, (_, i) => pod(i));

async function serve(file: string, extra: Partial<Parameters<typeof startServer>[0]> = {}): Promise<RunningServer> {
  return startServer({ configFile: file, httpPort: 0, host: '127.0.0.1', fileWatch: FAST, ...extra });
}

/** keyway on three file endpoints, reloaded to a `kubernetes:` section whose source is still syncing. */
async function reloadToSyncingKubernetes() {
  const topo = await tempTopology(topologyText({ ready: [true, true, true] }));
  const source = new GatedSource(true);
  const server = await serve(topo.file, { kubernetesSource: () => source });
  await topo.write('shards: 32\nreplicas: 1\nkubernetes:\n  services: [cache]\n');
  await source.starting;
  return { topo, source, server };
}

test('Kubernetes endpoints past the budget keep the last good map, logged and shown in /readyz', async (t) => {
  const topo = await tempTopology('shards: 16\nreplicas: 1\nkubernetes:\n  services: [cache]\n');
  const source = new GatedSource(false);
  const { logger, records } = captureLogs();
  const server = await serve(topo.file, { logger, kubernetesSource: () => source });
  t.after(async () => {
    await server.close();
    await topo.cleanup();
  });
  source.set(pods(3));
  await eventually('the first map', () => server.state.current()?.map.endpoints.length === 3);
  const good = server.state.current()!.map.version;

  source.set(pods(MAX_ENDPOINTS + 1));
  const line = await eventually('the refusal', () => records.find((r) => r.level === 50 && /work budget/.test(r.msg)));
  assert.match(line.msg, /^cannot compute a shard map \(endpoints changed\); keeping the previous one: endpoints: 5001 endpoints exceed/);
  assert.equal(server.state.current()!.map.version, good);
  const err = server.state.pipelineError();
  assert.ok(err instanceof KeywayError && err.code === 'BUDGET_EXCEEDED');
  const readyz = (await (await fetch(`http://127.0.0.1:${server.httpPort}/readyz`)).json()) as { pipelineError?: string };
  assert.match(readyz.pipelineError ?? '', /work budget/);

  source.set(pods(4)); // back inside: applied, and the error clears
  await eventually('the map of 4', () => server.state.current()?.map.endpoints.length === 4);
  assert.equal(server.state.pipelineError(), undefined);
});

test('a Kubernetes section still syncing holds back no reload; its endpoints take over once it has synced', async (t) => {
  const { topo, source, server } = await reloadToSyncingKubernetes();
  t.after(async () => {
    await server.close();
    await topo.cleanup();
  });
  // The new settings apply at once, with the endpoints in force.
  await eventually('shards: 32 with the file endpoints', () => {
    const m = server.state.current()!.map;
    return m.policy.shardCount === 32 && m.endpoints.length === 3;
  });
  // A file reload while the source syncs: back to a file topology, applied without waiting.
  await topo.write(topologyText({ ready: [true, true, true, true] }));
  await eventually('the 4 file endpoints', () => server.state.current()!.map.endpoints.length === 4);
  assert.ok(source.stopped, 'the abandoned source is stopped');
});

test('a Kubernetes section that syncs after a reload: its endpoints replace the file\'s', async (t) => {
  const { topo, source, server } = await reloadToSyncingKubernetes();
  t.after(async () => {
    await server.close();
    await topo.cleanup();
  });
  source.open(pods(2));
  await eventually('the pods', () => server.state.current()!.map.endpoints.map((e) => e.id).join() === 'pod-0,pod-1');
  assert.equal(server.state.current()!.cause?.reason, 'kubernetes source started');
  source.set(pods(3));
  await eventually('a later change from the source', () => server.state.current()!.map.endpoints.length === 3);
});

test('a Kubernetes source that fails to start leaves the endpoints in force and says why', async (t) => {
  const topo = await tempTopology(topologyText({ ready: [true, true, true] }));
  const source = new GatedSource(true);
  const { logger, records } = captureLogs();
  const server = await serve(topo.file, { logger, kubernetesSource: () => source });
  t.after(async () => {
    await server.close();
    await topo.cleanup();
  });
  await topo.write('shards: 64\nreplicas: 2\nkubernetes:\n  services: [cache]\n');
  await source.starting;
  source.fail(new KeywayError('SOURCE_UNAVAILABLE', 'no complete list within 60000 ms'));
  await eventually('the error', () => records.find((r) => r.level === 50 && /starting the Kubernetes source failed/.test(r.msg)));
  assert.equal(server.state.current()!.map.endpoints.length, 3);
  assert.match(server.state.pipelineError()?.message ?? '', /no complete list/);
});
