/**
 * A view whose snapshots are built ahead in slices (docs/ownership.md "Cost") is served on its own
 * even when a newer view is published meanwhile: the newer one is pushed after it. The served view's
 * change keeps its own trace and convergence, also when the newer view changes nothing proxies
 * receive (a push of 0 responses, which does not supersede it), and its responses are not credited
 * to the change before it as follow-ups.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import { trace } from '@opentelemetry/api';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor, type ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { ServingState } from '../../src/app/serving-state.js';
import { startXdsStage } from '../../src/app/xds-stage.js';
import type { KeywayMetrics } from '../../src/telemetry/index.js';
import { referencedNames } from '../../src/xds/cache/index.js';
import { diffShardMaps } from '../../src/sharding/index.js';
import { XdsTestClient } from '../support/xds-client/xds-client.js';
import { shiftedFleet } from '../xds/cache/shifted-fleet.js';

const NODES = 24;
const SHARDS = 512;
const { topology, agents, mapOf } = shiftedFleet(NODES, SHARDS, '10.0.3');

const turn = (): Promise<void> => new Promise((r) => setImmediate(r));
const pause = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Metrics that keep the convergence times and do nothing else. */
function convergenceMetrics(): { metrics: KeywayMetrics; convergence: number[] } {
  const convergence: number[] = [];
  const metrics = new Proxy({} as KeywayMetrics, {
    get: (_, name) => (name === 'recordConvergence' ? (s: number) => void convergence.push(s) : () => () => {}),
  });
  return { metrics, convergence };
}

interface Setup {
  readonly state: ServingState;
  readonly stage: Awaited<ReturnType<typeof startXdsStage>>;
  readonly envoy: XdsTestClient;
  readonly convergence: number[];
  readonly exporter: InMemorySpanExporter;
  readonly provider: BasicTracerProvider;
  /** Are every agent's snapshots still those of `old`? */
  readonly unchanged: (old: readonly string[]) => boolean;
  readonly agentVersions: () => string[];
}

async function setup(): Promise<Setup> {
  const exporter = new InMemorySpanExporter();
  const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
  trace.setGlobalTracerProvider(provider);
  const state = new ServingState();
  state.publish({ map: mapOf(0), topology });
  const { metrics, convergence } = convergenceMetrics();
  // 0: every agent class is its own slice, so the change takes many turns to build.
  const stage = await startXdsStage({ state, logger: pino({ level: 'silent' }), xdsPort: 0, host: '127.0.0.1' }, { rebuildSliceMs: 0, metrics });
  for (const c of agents) stage.cache.watch(c, 'assignment', () => {});
  const envoy = new XdsTestClient({ port: stage.server.port, node: { id: 'envoy-1', userAgentName: 'envoy', locality: { region: 'r', zone: 'z0', subZone: 'nvl-0' } } });
  envoy.request('cluster');
  const cds = await envoy.expect('cluster');
  envoy.ack('cluster');
  envoy.request('endpoint', cds.resources.flatMap((r) => referencedNames(r.message)));
  await envoy.expect('endpoint');
  envoy.ack('endpoint');
  const agentVersions = () => agents.map((c) => stage.cache.snapshot(c)!.version);
  const unchanged = (old: readonly string[]) => agentVersions().every((v, i) => v === old[i]);
  return { state, stage, envoy, convergence, exporter, provider, unchanged, agentVersions };
}

async function teardown(s: Setup): Promise<void> {
  s.envoy.close();
  await s.stage.close();
  trace.disable();
  await s.provider.shutdown();
}

/** The ended `keyway.change` roots for `version`. */
function changeRoots(exporter: InMemorySpanExporter, version: string): ReadableSpan[] {
  return exporter.getFinishedSpans().filter((sp) => sp.name === 'keyway.change' && sp.attributes['keyway.shardmap.version'] === version);
}

/** Polls (bounded) until `done()`. */
async function until(done: () => boolean): Promise<void> {
  for (let i = 0; i < 300 && !done(); i++) await pause(10);
}

test('a view built in slices and superseded meanwhile by a view that changes nothing for proxies: its change is traced and converges once', async () => {
  const s = await setup();
  try {
    const old = s.agentVersions();
    const a = mapOf(1);
    s.state.publish({ map: a, topology, diff: diffShardMaps(mapOf(0), a) });
    await turn();
    assert.ok(s.unchanged(old), 'the premise: view A is still being built in slices');
    // View B: the same map again (a new sequence), published while A is built.
    s.state.publish({ map: a, topology });
    const eds = await s.envoy.expect('endpoint');
    assert.ok(!s.unchanged(old), 'A was served');
    s.envoy.ack('endpoint');

    await until(() => s.convergence.length > 0 && changeRoots(s.exporter, a.version).length >= 2);
    // Nothing else is pushed: B wrote no response.
    for (let i = 0; i < 20; i++) await turn();
    assert.equal(s.envoy.pending, 0, 'B sends the proxy nothing');
    assert.equal(s.convergence.length, 1, `A's change converged once, got ${JSON.stringify(s.convergence)}`);
    const pushed = changeRoots(s.exporter, a.version).filter((sp) => Number(sp.attributes['keyway.change.pushes']) > 0);
    assert.equal(pushed.length, 1, 'one change trace holds the pushes of A');
    assert.equal(pushed[0]!.attributes['keyway.change.outcome'], 'converged');
    const pushes = s.exporter.getFinishedSpans().filter((sp) => sp.name === 'keyway.xds.push' && sp.parentSpanContext?.spanId === pushed[0]!.spanContext().spanId);
    assert.deepEqual(
      pushes.map((sp) => [sp.attributes['keyway.proxy.id'], sp.attributes['keyway.xds.version'], sp.attributes['keyway.xds.answer']]),
      [['envoy-1', eds.version, 'ack']],
    );
  } finally {
    await teardown(s);
  }
});

test("a view built in slices and superseded meanwhile: its responses are its own change's, not follow-ups of the change before it", async () => {
  const s = await setup();
  try {
    // Change P reaches the proxy, which does not answer yet: P stays open.
    const p = mapOf(1);
    s.state.publish({ map: p, topology, diff: diffShardMaps(mapOf(0), p) });
    const pEds = await s.envoy.expect('endpoint');
    const old = s.agentVersions();
    // A is built in slices; B (the same map as A) is published meanwhile.
    const a = mapOf(2);
    s.state.publish({ map: a, topology, diff: diffShardMaps(p, a) });
    await turn();
    assert.ok(s.unchanged(old), 'the premise: view A is still being built in slices');
    s.state.publish({ map: a, topology });
    const aEds = await s.envoy.expect('endpoint');
    assert.notEqual(aEds.version, pEds.version);
    s.envoy.ack('endpoint');

    await until(() => s.convergence.length > 0 && changeRoots(s.exporter, a.version).length >= 2 && changeRoots(s.exporter, p.version).length >= 1);
    for (let i = 0; i < 20; i++) await turn();
    const [pRoot] = changeRoots(s.exporter, p.version);
    assert.equal(pRoot?.attributes['keyway.change.outcome'], 'superseded', 'P never got its answer: A replaced it');
    const aRoots = changeRoots(s.exporter, a.version).filter((sp) => Number(sp.attributes['keyway.change.pushes']) > 0);
    assert.equal(aRoots.length, 1, "A's change holds A's push");
    assert.equal(aRoots[0]!.attributes['keyway.change.outcome'], 'converged');
    assert.equal(s.convergence.length, 1, 'one convergence: A');
  } finally {
    await teardown(s);
  }
});
