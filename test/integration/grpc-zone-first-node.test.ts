/**
 * A stock gRPC client whose zone gets its first cache node (docs/xds.md "Make-before-break for
 * stock gRPC clients"): keyway serves a client of a zone it does not know as a client that says
 * nothing (docs/security.md "xDS streams"), so with the join the client moves to a class of its
 * own, in the push that gives it routes to the joining node's new owner-tuple clusters. Real
 * @grpc/grpc-js-xds, grpc-go and python grpcio clients call without pause, half wait-for-ready and
 * half fail-fast, across several joins; no call may fail. Go and python grpcio are skipped where
 * missing (KEYWAY_REQUIRE_E2E=1 fails instead), as in test/integration/grpc-make-before-break.test.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { eventually } from '../support/eventually.js';
import type { ShardMapBody } from '../support/rest-bodies.js';
import { startKeywayInProcess } from '../support/keyway-in-process.js';
import { startGrpcBackend, type GrpcBackend } from './support/grpc-backend.js';
import { startWarmCallers, type CallReport } from './support/grpc-callers.js';

const SHARDS = 16;
const WORKERS = 4;
const TARGET = 'xds:///keyway-cache';
const JOINS = 3;

/** Nodes in zones z0 and z1, except those named in `inZone9`: in z9, the clients' zone. */
function topology(nodes: readonly GrpcBackend[], inZone9: ReadonlySet<string>): string {
  const lines = [`shards: ${SHARDS}`, 'replicas: 3', 'spread: none', 'service: keyway-cache', 'xds: {holdOffMs: 10, maxDelayMs: 100}', 'endpoints:'];
  nodes.forEach((n, i) => {
    const zone = inZone9.has(n.name) ? 'z9' : `z${i % 2}`;
    lines.push(`  - id: ${n.name}`, '    address: 127.0.0.1', `    port: ${n.port}`, `    locality: {region: r, zone: ${zone}, subzone: nvl-${i}}`, '    weight: 10');
  });
  return `${lines.join('\n')}\n`;
}

test('clients of a zone that gets its first node lose no call as they move to a class of their own', { timeout: 900_000 }, async (t) => {
  const nodes = await Promise.all(['node-0', 'node-1', 'node-2'].map(startGrpcBackend));
  t.after(() => Promise.all(nodes.map((n) => n.drain())));
  const { server, topo } = await startKeywayInProcess(t, topology(nodes, new Set()), { fileWatch: { debounce: { holdOffMs: 20, maxDelayMs: 100 }, pollIntervalMs: 100 } });
  const base = `http://127.0.0.1:${server.httpPort}`;
  const shardMap = async (): Promise<ShardMapBody> => (await (await fetch(`${base}/v1/shardmap`)).json()) as ShardMapBody;
  const bootstrap = (id: string): object => ({
    xds_servers: [{ server_uri: `127.0.0.1:${server.listening.xdsPort}`, channel_creds: [{ type: 'insecure' }], server_features: ['xds_v3'] }],
    node: { id, locality: { region: 'r', zone: 'z9', sub_zone: 'nvl-9' } },
  });
  const require = process.env.KEYWAY_REQUIRE_E2E === '1';
  const callers = await startWarmCallers(t, { target: TARGET, shards: SHARDS, workers: WORKERS, bootstrap, prefix: 'zone', require, note: (m) => t.diagnostic(m) });
  const totals = new Map<string, { ok: number; failed: number; errors: Record<string, number> }>(callers.map((c) => [c.language, { ok: 0, failed: 0, errors: {} }]));
  const collect = async (): Promise<CallReport[]> => {
    const reports: CallReport[] = [];
    for (const c of callers) {
      const r = await c.report();
      await c.reset();
      const sum = totals.get(c.language)!;
      sum.ok += r.ok;
      sum.failed += r.failed;
      for (const [m, n] of Object.entries(r.errors)) sum.errors[m] = (sum.errors[m] ?? 0) + n;
      reports.push(r);
    }
    return reports;
  };

  // Each round: a node of z9 joins (the clients move to the class of z9), then leaves (they move back).
  for (let round = 0; round < JOINS; round++) {
    const name = `z9-node-${round}`;
    const joining = await startGrpcBackend(name);
    nodes.push(joining);
    const before = await shardMap();
    await topo.write(topology(nodes, new Set([name])));
    await eventually(`the map with ${name}`, async () => ((await shardMap()).version !== before.version ? true : undefined));
    await eventually(`every client reaches ${name}`, async () => {
      await sleep(300);
      const reports = await collect();
      return reports.every((r) => (r.byNode[name] ?? 0) > 0) ? true : undefined;
    }, { timeoutMs: 60_000, intervalMs: 0 });
    nodes.pop();
    const withIt = await shardMap();
    await topo.write(topology(nodes, new Set()));
    await eventually(`the map without ${name}`, async () => ((await shardMap()).version !== withIt.version ? true : undefined));
    await eventually(`no client reaches ${name}`, async () => {
      await sleep(300);
      const reports = await collect();
      return reports.every((r) => (r.byNode[name] ?? 0) === 0) ? true : undefined;
    }, { timeoutMs: 60_000, intervalMs: 0 });
    await joining.drain();
  }
  await sleep(300);
  await collect();
  for (const [language, r] of totals) t.diagnostic(`${language}: ${r.ok} calls ok, ${r.failed} failed ${JSON.stringify(r.errors)}`);
  for (const [language, r] of totals) {
    assert.ok(r.ok > 0, `${language} made calls`);
    assert.equal(r.failed, 0, `${language}: ${r.failed} calls failed as its zone got its first node: ${JSON.stringify(r.errors)}`);
  }
});
