/**
 * Identity churn over many generations (docs/observability.md "Metrics", docs/xds-protocol.md
 * "Streams and cleanup"): in Kubernetes every rollout brings new pod names, so new endpoint ids, new
 * ownership-agent node ids, new Envoy and gRPC node ids and new load-report node ids. keyway runs
 * in-process as `keyway serve` assembles it; each generation replaces the previous one's 8 cache
 * nodes (topology reload), connects their agents and 8 Envoys and 8 gRPC clients under new ids,
 * has one Envoy NACK, reports load for the new nodes, then closes every stream. After the churn,
 * what keyway holds and exports must be what the last generation alone gives: no metric series,
 * proxy row or proxy class names an identity of a past generation, and the number of series is
 * the one of an early generation.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { serveStages } from '../../src/app/wiring.js';
import { windowStart, type LoadReportIntake } from '../../src/core/load.js';
import type { ServeStage } from '../../src/core/stage.js';
import { startKeywayInProcess } from '../support/keyway-in-process.js';
import { eventually } from '../support/eventually.js';
import { XdsTestClient } from '../support/xds-client/xds-client.js';

const GENERATIONS = 30;
const NODES = 8;
const W = 1000;

/** Generation `g`'s topology: 8 cache nodes named after it, in two zones and four fabrics. */
function generation(g: number): string {
  const lines = [
    `hotShards: {windowMs: ${W}, historyWindows: 2, replayWindows: 0, minWindowRequests: 0}`,
    'shards: 32',
    'replicas: 2',
    'spread: zone',
    'service: keyway-cache',
    'endpoints:',
  ];
  for (let i = 0; i < NODES; i++) {
    lines.push(`  - id: g${g}-n${i}`, `    address: 10.${g % 250}.0.${i + 1}`, '    port: 8080', `    locality: {region: r, zone: z${i % 2}, subzone: f${i % 4}}`, '    weight: 10');
  }
  return `${lines.join('\n')}\n`;
}

/** Every label value of every series of a Prometheus text exposition, but the load gauges' (checked apart). */
function labelValues(text: string): string[] {
  const out: string[] = [];
  for (const line of text.split('\n')) {
    if (line.startsWith('#') || line.startsWith('keyway_load_')) continue;
    for (const m of line.matchAll(/="((?:[^"\\]|\\.)*)"/g)) out.push(m[1]!);
  }
  return out;
}

/** Series lines, by metric name, leaving out the load gauges (present only while their window is the last closed one). */
function seriesByName(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#') || line.startsWith('keyway_load_')) continue;
    const name = line.split(/[{ ]/, 1)[0]!;
    out.set(name, (out.get(name) ?? 0) + 1);
  }
  return out;
}

/** The generation an id belongs to (`g12-n3`, `envoy-g12-3`, `grpc-g12-3`, `nack-g12`), if it names one. */
function generationOf(value: string): number | undefined {
  const m = /(?:^|-)g(\d+)(?:-|$)/.exec(value);
  return m ? Number(m[1]) : undefined;
}

test(`after ${GENERATIONS} generations of ${NODES} nodes and their proxies, keyway holds and exports only the last generation's identities`, async (t) => {
  let intake: LoadReportIntake | undefined;
  const grab: ServeStage = { name: 'grab-load', start: async (ctx) => ((intake = ctx.load), { close: async () => {} }) };
  const k = await startKeywayInProcess(t, generation(0), { stages: (metrics) => [...serveStages({ metrics }), grab] });
  const http = `http://127.0.0.1:${k.server.httpPort}`;
  const port = k.server.listening.xdsPort!;
  const get = async <T>(path: string): Promise<T> => (await (await fetch(`${http}${path}`)).json()) as T;
  const metricsText = async (): Promise<string> => (await fetch(`${http}/metrics`)).text();
  let early: Map<string, number> | undefined;
  /** Per load window, the nodes that reported for it. */
  const reported = new Map<number, Set<string>>();

  for (let g = 0; g < GENERATIONS; g++) {
    if (g > 0) {
      await k.topo.write(generation(g));
      await eventually(`generation ${g} in the map`, async () => (await get<{ endpoints: { id: string }[] }>('/v1/shardmap')).endpoints.every((e) => e.id.startsWith(`g${g}-`)), {
        timeoutMs: 10_000,
      });
    }
    const clients: XdsTestClient[] = [];
    for (let i = 0; i < NODES; i++) {
      const agent = new XdsTestClient({ port, node: { id: `g${g}-n${i}`, userAgentName: 'keyway-agent' }, protocol: 'delta' });
      agent.delta('assignment', { subscribe: [] });
      const envoy = new XdsTestClient({ port, node: { id: `envoy-g${g}-${i}`, userAgentName: 'envoy', locality: { zone: `z${i % 2}` } } });
      envoy.request('cluster');
      const grpc = new XdsTestClient({ port, node: { id: `grpc-g${g}-${i}`, userAgentName: 'gRPC Node Pure JS' } });
      grpc.request('listener', ['keyway-cache']);
      clients.push(agent, envoy, grpc);
    }
    k.clients.push(...clients);
    for (const c of clients) await c.next();
    // One NACK per generation: its record lives on the stream's row and in the NACK log's burst.
    const nacking = new XdsTestClient({ port, node: { id: `nack-g${g}`, userAgentName: 'envoy' } });
    k.clients.push(nacking);
    nacking.request('cluster');
    await nacking.expect('cluster');
    nacking.nack('cluster', `rejected by nack-g${g}`);
    await eventually(`nack-g${g} NACKED`, async () => {
      const rows = (await get<{ proxies: { types: Record<string, { status: string }> }[] }>(`/v1/proxies?proxy=nack-g${g}`)).proxies;
      return rows[0]?.types.cluster?.status === 'NACKED';
    });
    // Load for the last closed window, from this generation's nodes only.
    const closed = windowStart(Date.now(), W) - W;
    for (let i = 0; i < NODES; i++) {
      intake!.reportLoad({ nodeId: `g${g}-n${i}`, windowStartMs: closed, windowMs: W, totalRequests: 100, shards: [{ shard: i, requests: 50 }] });
      reported.set(closed, (reported.get(closed) ?? new Set()).add(`g${g}-n${i}`));
    }
    await fetch(`${http}/debug/config_dump?proxy=envoy-g${g}-0`);
    for (const c of [...clients, nacking]) c.close();
    await eventually(`generation ${g}'s streams closed`, async () => (await get<{ proxies: unknown[] }>('/v1/proxies')).proxies.length === 0, { timeoutMs: 10_000 });
    if (g === 5) early = seriesByName(await metricsText());
  }

  const last = GENERATIONS - 1;
  const text = await metricsText();
  const stale = labelValues(text).filter((v) => {
    const g = generationOf(v);
    return g !== undefined && g !== last;
  });
  assert.deepEqual(stale, [], 'no series is labelled with an identity of a past generation');
  // The load gauges show the last closed window: its nodes, which may be the previous generation's.
  const windowS = /^keyway_load_window_start_seconds (\S+)/m.exec(text)?.[1];
  const loadNodes = [...text.matchAll(/^keyway_load_node_requests_per_second\{node="([^"]*)"\}/gm)].map((m) => m[1]!);
  const inWindow = windowS === undefined ? new Set<string>() : (reported.get(Number(windowS) * 1000) ?? new Set<string>());
  assert.deepEqual(loadNodes.filter((n) => !inWindow.has(n)), [], `load series only for the nodes that reported for window ${windowS}`);
  assert.deepEqual(seriesByName(text), early, 'as many series of each metric as after generation 5');

  // The agent classes of past generations are dropped with their nodes: at most this generation's.
  const agentClasses = Number(/^keyway_xds_proxy_classes\{flavor="agent"\} (\d+)/m.exec(text)?.[1]);
  assert.ok(agentClasses <= NODES, `agent classes: ${agentClasses}`);
  assert.deepEqual((await get<{ proxies: unknown[] }>('/v1/proxies')).proxies, [], 'no proxy row once every stream closed');
  // The published views name only the last generation (the change history is bounded: docs/api.md).
  const map = await get<{ endpoints: { id: string }[] }>('/v1/shardmap');
  assert.deepEqual(map.endpoints.map((e) => generationOf(e.id)), Array(NODES).fill(last));
});
