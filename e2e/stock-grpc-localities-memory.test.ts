/**
 * Cold start at scale with stock proxyless gRPC clients (no shard picker) in several fabrics:
 * S = 16384, R = 2, 2000 cache nodes over 3 zones and 32 fabrics, keyway run with the base
 * manifest's V8 heap. Each stock gRPC client's class (its zone and fabric) is translated whole at
 * its first request: a cluster and an assignment per owner tuple (about 16 000 each, their
 * priorities depending on the locality), the route configuration with a route per shard. Such a
 * response passes gRPC's 4 MiB message limit, which keyway warns of; the clients cannot receive
 * it. Outcome: keyway stays up and answers each client's first request (its listener), rather
 * than running out of heap and taking the Envoys and agents it serves down with it.
 * Runs keyway from the sources (tsx), so it needs no build.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { create } from '@bufbuild/protobuf';
import { credentials, makeGenericClientConstructor, type ClientDuplexStream } from '@grpc/grpc-js';
import { parse as parseYaml } from 'yaml';
import { AggregatedDiscoveryService, DiscoveryRequestSchema, type DiscoveryResponse } from '../src/xds/proto.js';
import { grpcServiceDefinition } from '../src/xds/server/index.js';
import { TYPE_URL } from '../src/xds/resources.js';
import { freePorts } from './support/ports.js';
import { eventually } from '../test/support/eventually.js';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
/** Stock gRPC clients, each in a fabric of its own. */
const CLIENTS = 8;

function topology(): string {
  const lines = ['shards: 16384', 'replicas: 2', 'spread: subzone', 'service: keyway-cache', 'endpoints:'];
  for (let i = 0; i < 2000; i++) {
    lines.push(
      `  - id: cache-${i}.cache-nodes.cache.svc`,
      `    address: 10.${1 + Math.floor(i / 62500)}.${Math.floor(i / 250) % 250}.${(i % 250) + 1}`,
      '    port: 8080',
      `    locality: {region: us-east-1, zone: us-east-1${'abc'[i % 3]}, subzone: nvl-${i % 32}}`,
      `    weight: ${40 + (i % 3) * 20}`,
    );
  }
  const file = path.join(mkdtempSync(path.join(tmpdir(), 'keyway-stock-grpc-')), 'topology.yaml');
  writeFileSync(file, `${lines.join('\n')}\n`);
  return file;
}

/** The base manifest's NODE_OPTIONS (the V8 heap cap). */
function manifestNodeOptions(): string {
  const doc = parseYaml(readFileSync(path.join(REPO, 'manifests/base/deployment.yaml'), 'utf8')) as {
    spec: { template: { spec: { containers: { env?: { name: string; value?: string }[] }[] } } };
  };
  const value = doc.spec.template.spec.containers[0]!.env?.find((e) => e.name === 'NODE_OPTIONS')?.value;
  assert.ok(value, 'the manifest sets NODE_OPTIONS');
  return value;
}

test(`${CLIENTS} stock gRPC clients in ${CLIENTS} fabrics at S = 16384 with 2000 nodes: keyway stays up and answers each`, { timeout: 120_000 }, async (t) => {
  const [httpPort, xdsPort] = (await freePorts(2)) as [number, number];
  let stderr = '';
  const keyway = spawn(
    process.execPath,
    ['--import', 'tsx', 'src/cli/main.ts', 'serve', '--config', topology(), '--http-port', String(httpPort), '--xds-port', String(xdsPort), '--host', '127.0.0.1', '--ext-proc-port', 'off', '--log-level', 'error'],
    { cwd: REPO, stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, NODE_OPTIONS: manifestNodeOptions() } },
  );
  keyway.stderr.on('data', (b: Buffer) => (stderr = (stderr + b.toString()).slice(-4000)));
  const exited = new Promise<void>((resolve) => keyway.once('exit', () => resolve()));
  t.after(async () => {
    if (keyway.exitCode === null && keyway.signalCode === null) keyway.kill('SIGKILL');
    await exited;
  });
  await eventually('keyway ready', async () => {
    if (keyway.exitCode !== null) throw new Error(`keyway exited: ${stderr}`);
    return (await fetch(`http://127.0.0.1:${httpPort}/readyz`)).status === 200;
  }, { intervalMs: 100, timeoutMs: 60_000 });

  const Ads = makeGenericClientConstructor(grpcServiceDefinition(AggregatedDiscoveryService), 'ADS');
  const answered = new Set<number>();
  for (let i = 0; i < CLIENTS; i++) {
    const client = new Ads(`127.0.0.1:${xdsPort}`, credentials.createInsecure(), { 'grpc.use_local_subchannel_pool': 1 });
    const call = (client as unknown as { StreamAggregatedResources(): ClientDuplexStream<unknown, DiscoveryResponse> }).StreamAggregatedResources();
    t.after(() => (call.cancel(), client.close()));
    call.on('data', () => answered.add(i));
    call.on('error', () => {});
    const node = { id: `checkout-${i}.shop.svc`, cluster: 'shop', userAgentName: 'gRPC Node Pure JS', locality: { region: 'us-east-1', zone: `us-east-1${'abc'[i % 3]}`, subZone: `nvl-${i}` } };
    call.write(create(DiscoveryRequestSchema, { node, typeUrl: TYPE_URL.listener, resourceNames: ['keyway-cache'] }));
  }
  const deadline = Date.now() + 60_000;
  while (answered.size < CLIENTS && keyway.exitCode === null && keyway.signalCode === null && Date.now() < deadline) await sleep(100);
  await sleep(500); // a process dying of its heap takes a moment to exit
  assert.ok(keyway.exitCode === null && keyway.signalCode === null, `keyway exited (code ${keyway.exitCode}, signal ${keyway.signalCode}): ${stderr.slice(0, 600)}`);
  assert.equal(answered.size, CLIENTS, 'every client got its listener');
});
