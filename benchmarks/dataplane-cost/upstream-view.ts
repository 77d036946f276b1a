/**
 * What a cache node receives from Envoy under keyway's route table and under ring_hash: each node
 * replaced by a recording server, the same client in front of both Envoys (the data-plane cost
 * benchmark's, docs/benchmarks.md "What the nodes' 1.12 to 1.14x is made of"). Two phases:
 * idle (Envoy's CPU and the health checks it sends, per second), then a closed loop per routing
 * (the headers, bytes of headers and connections each node sees).
 *
 *   node --import tsx benchmarks/dataplane-cost/upstream-view.ts [--nodes 8] [--idle-slices 3] [--seconds 5]
 */
import http from 'node:http';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import { adsBootstrap } from '../../e2e/support/bootstrap.js';
import { startEnvoy, type EnvoyProcess } from '../../e2e/support/envoy.js';
import { startKeyway } from '../../e2e/support/keyway.js';
import { freePort, freePorts } from '../../e2e/support/ports.js';
import { ZipfSampler } from '../hitrate/zipf.js';
import { CacheClient } from './client.js';
import { cpuMs } from './cpu.js';
import { plainBootstrap } from './variants.js';

/** What one recording node saw. */
interface Seen {
  connections: number;
  requests: number;
  healthChecks: number;
  headerBytes: number;
  readonly headerNames: Map<string, number>;
}

/** Recording servers on `ports`: answer as a cache node's L1 hit, count what arrives. */
async function recordingNodes(ports: readonly number[]): Promise<{ seen: Seen[]; close(): void }> {
  const seen: Seen[] = ports.map(() => ({ connections: 0, requests: 0, healthChecks: 0, headerBytes: 0, headerNames: new Map() }));
  const servers = await Promise.all(
    ports.map(
      (port, i) =>
        new Promise<http.Server>((resolve) => {
          const s = seen[i]!;
          const server = http.createServer((req, res) => {
            if (req.url === '/healthz') {
              s.healthChecks++;
              res.writeHead(200).end('ok');
              return;
            }
            s.requests++;
            for (let j = 0; j < req.rawHeaders.length; j += 2) {
              const name = req.rawHeaders[j]!;
              // "name: value\r\n"
              s.headerBytes += name.length + req.rawHeaders[j + 1]!.length + 4;
              s.headerNames.set(name, (s.headerNames.get(name) ?? 0) + 1);
            }
            res.writeHead(200, { 'content-type': 'application/json', 'x-cache-tier': 'l1' }).end('{}');
          });
          server.on('connection', () => s.connections++);
          server.listen(port, '127.0.0.1', () => resolve(server));
        }),
    ),
  );
  return { seen, close: () => servers.forEach((s) => s.close()) };
}

const { values } = parseArgs({ options: { nodes: { type: 'string' }, 'idle-slices': { type: 'string' }, seconds: { type: 'string' } } });
const nodes = Number(values.nodes ?? 8);
const idleSlices = Number(values['idle-slices'] ?? 3);
const seconds = Number(values.seconds ?? 5);
const dir = mkdtempSync(path.join(os.tmpdir(), 'keyway-upstream-view-'));
const listenerPort = await freePort();
const ports = await freePorts(2 * nodes);
const sides = { keyway: await recordingNodes(ports.slice(0, nodes)), 'ring-hash': await recordingNodes(ports.slice(nodes)) };
writeFileSync(
  path.join(dir, 'topology.yaml'),
  [
    'shards: 1024',
    'replicas: 2',
    'spread: none',
    `envoy: {listenerPort: ${listenerPort}, upstreamProtocol: http1, routeShape: table}`,
    'routing: {keyHeader: x-cache-key}',
    'endpoints:',
    ...ports.slice(0, nodes).map((p, i) => `  - {id: n${i}, address: 127.0.0.1, port: ${p}, locality: {region: r, zone: z, subzone: f}, weight: 1}`),
  ].join('\n') + '\n',
);
const keyway = await startKeyway({ configPath: path.join(dir, 'topology.yaml'), httpPort: 0, xdsPort: 0 });
const ringHashPort = await freePort();
const envoys: Record<keyof typeof sides, EnvoyProcess> = {
  keyway: await startEnvoy({ bootstrap: adsBootstrap({ xdsPort: keyway.xdsPort, nodeId: 'upstream-view' }), concurrency: 1 }),
  'ring-hash': await startEnvoy({ bootstrap: plainBootstrap('RING_HASH', ports.slice(nodes), ringHashPort, dir), concurrency: 1 }),
};
try {
  await sleep(5_000);
  console.log('idle (no request yet: health checks at their no-traffic interval)');
  for (let i = 0; i < idleSlices; i++) {
    const cpu = { keyway: cpuMs(envoys.keyway.pid), 'ring-hash': cpuMs(envoys['ring-hash'].pid) };
    const checks = { keyway: sum(sides.keyway.seen, 'healthChecks'), 'ring-hash': sum(sides['ring-hash'].seen, 'healthChecks') };
    await sleep(10_000);
    for (const side of ['keyway', 'ring-hash'] as const) {
      const msPerS = (cpuMs(envoys[side].pid) - cpu[side]) / 10;
      console.log(`  ${side}: Envoy ${msPerS.toFixed(2)} ms/s, ${(sum(sides[side].seen, 'healthChecks') - checks[side]) / 10} health checks/s`);
    }
  }
  // Each routing twice, in ABBA order: the client's own warm-up does not fall on one side.
  const keywaySide = ['keyway', listenerPort, true] as const;
  const ringHashSide = ['ring-hash', ringHashPort, false] as const;
  for (const [side, port, sendShard] of [keywaySide, ringHashSide, ringHashSide, keywaySide]) {
    const seen = sides[side].seen;
    const before = seen.map((s) => ({ ...s }));
    const client = new CacheClient({ port, sampler: new ZipfSampler(100_000, 1.0, 7), shardCount: 1024, sendShard });
    const burst = await client.run({ concurrency: 64, seconds });
    client.close();
    console.log(`${side}: ${burst.completed} requests in ${burst.seconds.toFixed(1)} s (not a throughput measure: see run.ts --paired), ${burst.errors} errors`);
    seen.forEach((s, i) => {
      const requests = s.requests - before[i]!.requests;
      const bytes = (s.headerBytes - before[i]!.headerBytes) / Math.max(1, requests);
      console.log(`  node ${i}: ${requests} requests, ${s.connections - before[i]!.connections} new connections, ${bytes.toFixed(1)} header bytes per request`);
    });
    console.log(`  headers: ${[...seen[0]!.headerNames.keys()].sort().join(', ')}`);
  }
} finally {
  await envoys.keyway.stop();
  await envoys['ring-hash'].stop();
  await keyway.stop();
  sides.keyway.close();
  sides['ring-hash'].close();
  rmSync(dir, { recursive: true, force: true });
}

function sum(seen: readonly Seen[], field: 'healthChecks' | 'requests'): number {
  return seen.reduce((n, s) => n + s[field], 0);
}
