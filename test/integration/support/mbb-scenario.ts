/**
 * The make-before-break scenario (docs/xds.md "Make-before-break for stock gRPC clients"), shared by
 * test/integration/grpc-make-before-break.test.ts and benchmarks/grpc-mbb: real @grpc/grpc-js-xds,
 * grpc-go and python grpcio clients call keyway-routed backends without pause, half wait-for-ready
 * and half fail-fast, while a cache node joins (new owner-tuple clusters) and then one leaves (it
 * drains once no client calls it any more). Returns each client's calls, failed or not, across both.
 */
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import type { TestContext } from 'node:test';
import { eventually } from '../../support/eventually.js';
import type { ShardMapBody } from '../../support/rest-bodies.js';
import { startKeywayInProcess } from '../../support/keyway-in-process.js';
import { startGrpcBackend, type GrpcBackend } from './grpc-backend.js';
import { startWarmCallers, type CallReport } from './grpc-callers.js';

export interface ScenarioOptions {
  /** Fail, rather than skip a client, when Go or python grpcio is missing. */
  readonly require: boolean;
  /** Where a skipped client is reported. */
  readonly note: (message: string) => void;
}

/** Per client language, its calls across the node join and the node loss. */
export type ScenarioResult = Map<string, CallReport>;

const SHARDS = 16;
const WORKERS = 4; // per client: two wait-for-ready, two fail-fast
const TARGET = 'xds:///keyway-cache';

function topology(nodes: readonly GrpcBackend[]): string {
  const lines = [`shards: ${SHARDS}`, 'replicas: 2', 'spread: none', 'service: keyway-cache', 'xds: {holdOffMs: 10, maxDelayMs: 100}', 'endpoints:'];
  nodes.forEach((n, i) => {
    lines.push(`  - id: ${n.name}`, '    address: 127.0.0.1', `    port: ${n.port}`, `    locality: {region: r, zone: z${i % 2}, subzone: nvl-${i}}`, '    weight: 10');
  });
  return `${lines.join('\n')}\n`;
}

/** Sums of several reports (one client's, across phases). */
function add(a: CallReport, b: CallReport): CallReport {
  const merge = (x: Record<string, number>, y: Record<string, number>): Record<string, number> => {
    const out = { ...x };
    for (const [k, v] of Object.entries(y)) out[k] = (out[k] ?? 0) + v;
    return out;
  };
  return { ok: a.ok + b.ok, failed: a.failed + b.failed, errors: merge(a.errors, b.errors), byNode: merge(a.byNode, b.byNode) };
}

/** Runs the scenario once; everything it starts is stopped through `t.after`. */
export async function joinAndLoss(t: Pick<TestContext, 'after'>, opts: ScenarioOptions): Promise<ScenarioResult> {
  const nodes = await Promise.all(['node-0', 'node-1', 'node-2'].map(startGrpcBackend));
  t.after(() => Promise.all(nodes.map((n) => n.drain())));
  const { server, topo } = await startKeywayInProcess(t, topology(nodes), { fileWatch: { debounce: { holdOffMs: 20, maxDelayMs: 100 }, pollIntervalMs: 100 } });
  const base = `http://127.0.0.1:${server.httpPort}`;
  const shardMap = async (): Promise<ShardMapBody> => (await (await fetch(`${base}/v1/shardmap`)).json()) as ShardMapBody;
  const bootstrap = (id: string): object => ({
    xds_servers: [{ server_uri: `127.0.0.1:${server.listening.xdsPort}`, channel_creds: [{ type: 'insecure' }], server_features: ['xds_v3'] }],
    node: { id, locality: { region: 'r', zone: 'z9', sub_zone: 'nvl-9' } },
  });

  // Warm: every client has connected and calls go through (a window of calls without a failure).
  const callers = await startWarmCallers(t, { target: TARGET, shards: SHARDS, workers: WORKERS, bootstrap, prefix: 'mbb', require: opts.require, note: opts.note });
  const totals = new Map<string, CallReport>(callers.map((c) => [c.language, { ok: 0, failed: 0, errors: {}, byNode: {} }]));
  const collect = async (): Promise<void> => {
    for (const c of callers) {
      totals.set(c.language, add(totals.get(c.language)!, await c.report()));
      await c.reset();
    }
  };
  /** Waits until every client's calls in a window all land on nodes of `serving` (the change took), then calls on a little. */
  const settled = async (what: string, serving: readonly string[], mustReach: string | undefined): Promise<void> => {
    for (const c of callers) {
      await eventually(`${c.language}: ${what}`, async () => {
        await collect();
        await sleep(300);
        return c.report();
      }, {
        accept: (r) => Object.keys(r.byNode).every((n) => serving.includes(n)) && (mustReach === undefined || (r.byNode[mustReach] ?? 0) > 0),
        timeoutMs: 60_000,
        intervalMs: 0,
      });
    }
    await sleep(500);
    await collect();
  };

  // A node joins: the shards it takes get owner tuples (clusters) the clients have never seen.
  const map1 = await shardMap();
  const joining = await startGrpcBackend('node-3');
  nodes.push(joining);
  await topo.write(topology(nodes));
  const map2 = await eventually('the map with node-3', async () => {
    const m = await shardMap();
    return m.version !== map1.version ? m : undefined;
  });
  assert.ok(map2.shards.some((s) => s.owners[0] === 'node-3'), 'node-3 is some shard\'s primary');
  await settled('calls reach node-3', nodes.map((n) => n.name), 'node-3');

  // A node leaves: keyway moves its shards first; it drains (finishes its calls) once no client calls it.
  const leaving = nodes.find((n) => n.name === 'node-1')!;
  const staying = nodes.filter((n) => n !== leaving);
  await topo.write(topology(staying));
  await eventually('the map without node-1', async () => {
    const m = await shardMap();
    return m.shards.every((s) => !s.owners.includes('node-1')) ? m : undefined;
  });
  await settled('no call reaches node-1', staying.map((n) => n.name), undefined);
  await leaving.drain();
  await sleep(500);
  await collect();

  return totals;
}
