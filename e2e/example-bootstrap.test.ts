// The shipped examples work together: examples/envoy-bootstrap.yaml, pointed at keyway serving
// examples/topology.yaml, gets the cache listener from keyway and routes every shard to its primary.
// Only ports change (the test picks free ones); ids, weights, shards and settings are the files'.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parse, stringify } from 'yaml';
import { startCacheNode, type CacheNode } from './support/cache-nodes.js';
import { envoySkipReason, startEnvoy } from './support/envoy.js';
import { startKeyway } from './support/keyway.js';
import { freePorts } from './support/ports.js';
import { requestShard } from './support/traffic.js';
import { eventually } from '../test/support/eventually.js';

const skip = envoySkipReason();

interface ExampleEndpoint { id: string; port: number }

test('the example bootstrap against the example topology routes every probed shard to its primary', { skip, timeout: 120_000 }, async (t) => {
  const topology = parse(readFileSync('examples/topology.yaml', 'utf8')) as { endpoints: ExampleEndpoint[]; envoy: { listenerPort: number } };
  const ports = await freePorts(topology.endpoints.length + 1);
  const nodes: CacheNode[] = [];
  t.after(async () => Promise.all(nodes.map((n) => n.stop())));
  for (const [i, e] of topology.endpoints.entries()) {
    e.port = ports[i]!;
    nodes.push(await startCacheNode({ id: e.id, port: e.port }));
  }
  topology.envoy.listenerPort = ports.at(-1)!;
  const dir = mkdtempSync(path.join(tmpdir(), 'keyway-example-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const configPath = path.join(dir, 'topology.yaml');
  writeFileSync(configPath, stringify(topology));

  const keyway = await startKeyway({ configPath });
  t.after(() => keyway.stop());

  const bootstrap = parse(readFileSync('examples/envoy-bootstrap.yaml', 'utf8')) as {
    static_resources: { clusters: { load_assignment: { endpoints: { lb_endpoints: { endpoint: { address: { socket_address: { port_value: number } } } }[] }[] } }[] };
  };
  bootstrap.static_resources.clusters[0]!.load_assignment.endpoints[0]!.lb_endpoints[0]!.endpoint.address.socket_address.port_value = keyway.xdsPort;
  const envoy = await startEnvoy({ bootstrap: bootstrap as unknown as Record<string, unknown> });
  t.after(() => envoy.stop());

  const map = (await (await fetch(`${keyway.httpUrl}/v1/shardmap`)).json()) as { shardCount: number; shards: { shard: number; owners: string[] }[] };
  assert.equal(map.shardCount, 1024, 'the example topology as shipped');
  const listener = `http://127.0.0.1:${topology.envoy.listenerPort}`;
  // Every 64th shard, so each of the example's eight nodes is hit as a primary within 16 probes.
  const probes = map.shards.filter((s) => s.shard % 64 === 0);
  for (const { shard, owners } of probes) {
    const answer = await eventually(`shard ${shard} answered with 200`, () => requestShard(listener, shard), { accept: (a) => a.status === 200, timeoutMs: 20_000 });
    assert.equal(answer.servedBy, owners[0], `shard ${shard} reaches its primary ${owners[0]}`);
  }
  const proxies = (await (await fetch(`${keyway.httpUrl}/v1/proxies`)).json()) as { proxies: { id: string; types: Record<string, { status: string }> }[] };
  const envoy0 = proxies.proxies.find((p) => p.id === 'envoy-0');
  assert.ok(envoy0, 'the bootstrap node id shows in /v1/proxies');
  for (const type of ['cluster', 'endpoint', 'listener', 'route']) assert.equal(envoy0.types[type]?.status, 'SYNCED', type);
});
