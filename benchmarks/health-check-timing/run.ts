/**
 * Envoy's active health check against example cache nodes starting under load (docs/envoy-findings.md "2f"):
 * do the health-check settings keyway's translator writes mark healthy nodes failed while they start?
 *
 * One real Envoy holds one STATIC cluster per candidate setting, all over the same N example cache nodes
 * (examples/cache-node, started as users start them, `node --import tsx examples/cache-node/main.ts`, against
 * a real `keyway serve`), so every setting sees the same nodes under the same load, side by side. The nodes
 * start at once, with `--load` busy processes for the first seconds (the rest of a fleet starting on the
 * same cores). A **misfire** is a host Envoy had seen healthy and then marked failed while its node never
 * stopped. Envoy's /clusters is polled every 50 ms; a failed host stays failed at least one interval, so no
 * misfire is missed.
 *
 *   npm run bench:healthcheck -- [--rounds 3] [--nodes 6] [--load 2] [--traffic 4] [--stagger 0] [--seconds 20]
 *
 * Prints a table and writes benchmarks/results/health-check-timing.json: per setting, misfires per round and in
 * total, and when every node was first seen healthy.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { parseClusters, startEnvoy, envoyVersion, envoyBinaryPath } from '../../e2e/support/envoy.js';
import { startKeyway } from '../../e2e/support/keyway.js';
import { freePorts } from '../../e2e/support/ports.js';
import { terminate, track } from '../../e2e/support/processes.js';
import { HEALTH_CHECK_TIMING } from '../../src/xds/translator/index.js';

const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const RESULTS = path.join(REPO_ROOT, 'benchmarks', 'results', 'health-check-timing.json');

/** A health-check setting as keyway's translator writes it (src/xds/translator/envoy-failover.ts). */
export interface HealthCheckTiming {
  readonly name: string;
  readonly timeoutMs: number;
  readonly intervalMs: number;
  readonly noTrafficIntervalMs: number;
  readonly unhealthyIntervalMs?: number;
  readonly unhealthyThreshold: number;
  readonly healthyThreshold: number;
}

/** The former timing, what the translator writes now, and two neighbours of it. */
export const CANDIDATES: readonly HealthCheckTiming[] = [
  { name: 'former-t250ms-u2', timeoutMs: 250, intervalMs: 500, noTrafficIntervalMs: 500, unhealthyThreshold: 2, healthyThreshold: 1 },
  { name: 'keyway', ...HEALTH_CHECK_TIMING },
  { name: 't1s-u2', timeoutMs: 1000, intervalMs: 500, noTrafficIntervalMs: 500, unhealthyThreshold: 2, healthyThreshold: 1 },
  { name: 't2s-u3', timeoutMs: 2000, intervalMs: 1000, noTrafficIntervalMs: 1000, unhealthyThreshold: 3, healthyThreshold: 1 },
];

const s = (ms: number): string => `${ms / 1000}s`;

function cluster(t: HealthCheckTiming, ports: readonly number[]): Record<string, unknown> {
  return {
    name: t.name,
    type: 'STATIC',
    connect_timeout: '0.25s',
    load_assignment: {
      cluster_name: t.name,
      endpoints: [{ lb_endpoints: ports.map((port) => ({ endpoint: { address: { socket_address: { address: '127.0.0.1', port_value: port } } } })) }],
    },
    health_checks: [
      {
        timeout: s(t.timeoutMs),
        interval: s(t.intervalMs),
        no_traffic_interval: s(t.noTrafficIntervalMs),
        ...(t.unhealthyIntervalMs ? { unhealthy_interval: s(t.unhealthyIntervalMs) } : {}),
        unhealthy_threshold: t.unhealthyThreshold,
        healthy_threshold: t.healthyThreshold,
        http_health_check: { path: '/healthz' },
      },
    ],
    ignore_health_on_host_removal: true,
    common_lb_config: { update_merge_window: '0s' },
  };
}

/** A process that keeps one core busy for `ms`. */
function burner(ms: number): ChildProcess {
  const child = spawn(process.execPath, ['-e', `const end = Date.now() + ${ms}; while (Date.now() < end) {}`], { stdio: 'ignore' });
  track(child);
  return child;
}

/**
 * A process that sends requests for random keys to every node (`perNode` loops each, keep-alive) for `ms`:
 * the traffic a fleet takes while it starts. Refused connections (a node not up yet) are retried after 50 ms.
 */
function traffic(ports: readonly number[], perNode: number, ms: number): ChildProcess {
  const code = `
    const http = require('node:http');
    const agent = new http.Agent({ keepAlive: true, maxSockets: ${perNode} });
    const end = Date.now() + ${ms};
    const loop = (port) => {
      if (Date.now() > end) return;
      const req = http.get({ host: '127.0.0.1', port, path: '/kv/k' + Math.floor(Math.random() * 1e6), agent }, (res) => { res.resume(); res.on('end', () => loop(port)); });
      req.on('error', () => setTimeout(() => loop(port), 50));
    };
    for (const port of ${JSON.stringify(ports)}) for (let i = 0; i < ${perNode}; i++) loop(port);
    setTimeout(() => process.exit(0), ${ms});`;
  const child = spawn(process.execPath, ['-e', code], { stdio: 'ignore' });
  track(child);
  return child;
}

interface RoundResult {
  /** Per setting: misfires (healthy → failed while the node ran) and the host:port of each. */
  readonly misfires: Record<string, string[]>;
  /** Per setting: ms from the nodes' start to the last host first seen healthy. */
  readonly allHealthyMs: Record<string, number | null>;
}

async function round(nodes: number, load: number, seconds: number, perNode: number, stagger: number): Promise<RoundResult> {
  const ports = await freePorts(nodes);
  const dir = mkdtempSync(path.join(tmpdir(), 'keyway-hc-'));
  const configPath = path.join(dir, 'topology.yaml');
  const lines = ['shards: 1024', 'replicas: 2', 'spread: none', 'endpoints:'];
  ports.forEach((port, i) => lines.push(`  - {id: node-${i}, address: 127.0.0.1, port: ${port}, locality: {region: r, zone: z, subzone: f${i % 3}}}`));
  writeFileSync(configPath, `${lines.join('\n')}\n`);
  const keyway = await startKeyway({ configPath, httpPort: 0, xdsPort: 0 });
  const envoy = await startEnvoy({ bootstrap: { static_resources: { clusters: CANDIDATES.map((c) => cluster(c, ports)) } } });
  const children: ChildProcess[] = [];
  const seenHealthy = new Map<string, number>();
  const misfires: Record<string, string[]> = Object.fromEntries(CANDIDATES.map((c) => [c.name, []]));
  try {
    const started = performance.now();
    for (let i = 0; i < load; i++) children.push(burner(Math.min(8000, seconds * 500)));
    if (perNode > 0) children.push(traffic(ports, perNode, seconds * 1000));
    for (const [i, port] of ports.entries()) {
      if (i > 0 && stagger > 0) await new Promise((r) => setTimeout(r, stagger));
      const child = spawn(
        process.execPath,
        ['--import', 'tsx', 'examples/cache-node/main.ts', '--id', `node-${i}`, '--port', String(port), '--host', '127.0.0.1', '--keyway-xds', `127.0.0.1:${keyway.xdsPort}`],
        { cwd: REPO_ROOT, stdio: 'ignore' },
      );
      track(child);
      children.push(child);
    }
    const wasFailed = new Set<string>();
    while (performance.now() - started < seconds * 1000) {
      const hosts = parseClusters(JSON.parse(await envoy.admin('/clusters?format=json')));
      for (const h of hosts) {
        const key = `${h.cluster} ${h.port}`;
        if (h.healthy) {
          if (!seenHealthy.has(key)) seenHealthy.set(key, performance.now() - started);
          wasFailed.delete(key);
        } else if (seenHealthy.has(key) && !wasFailed.has(key)) {
          wasFailed.add(key);
          misfires[h.cluster]!.push(`127.0.0.1:${h.port} at ${Math.round(performance.now() - started)} ms`);
        }
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    const allHealthyMs: Record<string, number | null> = {};
    for (const c of CANDIDATES) {
      const times = ports.map((p) => seenHealthy.get(`${c.name} ${p}`));
      allHealthyMs[c.name] = times.every((t) => t !== undefined) ? Math.round(Math.max(...(times as number[]))) : null;
    }
    return { misfires, allHealthyMs };
  } finally {
    await Promise.all(children.map((c) => terminate(c)));
    await envoy.stop();
    await keyway.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { rounds: { type: 'string' }, nodes: { type: 'string' }, load: { type: 'string' }, seconds: { type: 'string' }, traffic: { type: 'string' }, stagger: { type: 'string' } },
  });
  const rounds = Number(values.rounds ?? 3);
  const nodes = Number(values.nodes ?? 6);
  const load = Number(values.load ?? 2);
  const seconds = Number(values.seconds ?? 20);
  const perNode = Number(values.traffic ?? 4);
  const stagger = Number(values.stagger ?? 0);
  const results: RoundResult[] = [];
  for (let i = 0; i < rounds; i++) results.push(await round(nodes, load, seconds, perNode, stagger));
  const summary = CANDIDATES.map((c) => ({
    ...c,
    misfiresPerRound: results.map((r) => r.misfires[c.name]!.length),
    misfires: results.reduce((n, r) => n + r.misfires[c.name]!.length, 0),
    allHealthyMsPerRound: results.map((r) => r.allHealthyMs[c.name]),
    examples: results.flatMap((r) => r.misfires[c.name]!).slice(0, 5),
  }));
  const report = { envoy: envoyVersion(envoyBinaryPath()), rounds, nodes, load, traffic: perNode, stagger, seconds, summary };
  writeFileSync(RESULTS, `${JSON.stringify(report, null, 2)}\n`);
  const rows = summary.map((c) => `${c.name.padEnd(18)} ${`${c.timeoutMs}`.padStart(7)} ${`${c.unhealthyThreshold}`.padStart(9)} ${`${c.misfires}`.padStart(8)}   ${c.allHealthyMsPerRound.join(', ')}`);
  process.stdout.write(`${['timing             timeout unhealthy misfires   all healthy after (ms, per round)', ...rows].join('\n')}\n(written to ${path.relative(REPO_ROOT, RESULTS)})\n`);
}

void main().catch((err: unknown) => {
  process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
