/**
 * Checks the `keyway-native-picker` variant on real Envoy before it is measured
 * (`node --import tsx benchmarks/dataplane-cost/native-picker-check.ts [toggle]`, after `npm run
 * build`; toggle default native-picker, or native-picker-no-retry-priority):
 * keyway (hot-shard policy off, so its map stays the one Envoy copied), four stand-in nodes, the
 * variant's bootstrap built from keyway's own resources, then
 * - every shard sent as `x-cache-shard`, and 2000 random keys plus the key-to-shard vectors
 *   (S = 1024) sent as `x-cache-key`, reach their shard's primary by keyway's REST map;
 * - a malformed, out-of-range or repeated `x-cache-shard`, a repeated key, or neither header: 400;
 * - with one node stopped, every shard it leads is served by the shard's second owner (the retry
 *   walks the owners in `x-gateway-destination-endpoint`), and nothing fails.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { adsBootstrap } from '../../e2e/support/bootstrap.js';
import { startCacheNode, type CacheNode } from '../../e2e/support/cache-nodes.js';
import { startEnvoy, type EnvoyProcess } from '../../e2e/support/envoy.js';
import { startKeyway } from '../../e2e/support/keyway.js';
import { freePort } from '../../e2e/support/ports.js';
import { eventually } from '../../test/support/eventually.js';
import { keyToShard } from '../../src/sharding/key-to-shard.js';
import { keywayResources, keywayStaticBootstrap, TOGGLES, type Json } from './variants.js';

const S = 1024;
const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

interface Answer {
  readonly status: number;
  readonly servedBy: string | undefined;
  readonly body: string;
}

const agent = new http.Agent({ keepAlive: true, maxSockets: 16 });
function get(port: number, headers: [string, string][]): Promise<Answer> {
  return new Promise((resolve, reject) => {
    // A flat array keeps repeated headers repeated.
    const req = http.request({ host: '127.0.0.1', port, path: '/kv/x', agent, headers: [['host', 'cache'], ...headers].flat() }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, servedBy: res.headers['x-served-by'] as string | undefined, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

let failures = 0;
function check(ok: boolean, what: string): void {
  if (!ok) {
    failures++;
    if (failures <= 20) process.stdout.write(`FAIL ${what}\n`);
  }
}

async function main(): Promise<void> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'keyway-native-check-'));
  const cleanups: (() => Promise<unknown>)[] = [];
  try {
    const nodes: CacheNode[] = [];
    for (let i = 0; i < 4; i++) nodes.push(await startCacheNode({ id: `n${i}` }));
    cleanups.push(() => Promise.all(nodes.map((n) => n.stop())));
    const listenerPort = await freePort();
    const topology = [
      `shards: ${S}`,
      'replicas: 2',
      'spread: none',
      `envoy: {listenerPort: ${listenerPort}, upstreamProtocol: http1}`,
      'routing: {keyHeader: x-cache-key}',
      'hotShards: {enabled: false}',
      'endpoints:',
      ...nodes.map((n) => `  - {id: ${n.id}, address: 127.0.0.1, port: ${n.port}, locality: {region: r, zone: z, subzone: f}, weight: 1}`),
    ];
    writeFileSync(path.join(dir, 'topology.yaml'), `${topology.join('\n')}\n`);
    const keyway = await startKeyway({ configPath: path.join(dir, 'topology.yaml'), httpPort: 0, xdsPort: 0 });
    cleanups.push(() => keyway.stop());

    const probe = await startEnvoy({ bootstrap: adsBootstrap({ xdsPort: keyway.xdsPort, nodeId: 'bench-envoy' }), concurrency: 1 });
    const resources = await eventually("keyway's listener active in Envoy", async () => {
      const configs = (await probe.configDump({ includeEds: true })).configs as Json[];
      const listeners = configs.find((c) => String(c['@type']).endsWith('ListenersConfigDump'))?.dynamic_listeners as Json[] | undefined;
      const eds = configs.find((c) => String(c['@type']).endsWith('EndpointsConfigDump'))?.dynamic_endpoint_configs as Json[] | undefined;
      return listeners?.[0]?.active_state && eds?.length ? keywayResources(configs) : undefined;
    }, { timeoutMs: 30_000, intervalMs: 200 });
    await probe.stop();

    const map = JSON.parse(await (await fetch(`${keyway.httpUrl}/v1/shardmap`)).text()) as { shardCount: number; shards: { shard: number; owners: string[] }[] };
    const owners = new Map(map.shards.map((s) => [s.shard, s.owners]));
    if (map.shardCount !== S || owners.size !== S) throw new Error(`shard map: ${map.shardCount} shards, ${owners.size} listed`);

    const name = process.argv[2] ?? 'native-picker';
    const toggle = TOGGLES.find((t) => t.name === name)!;
    process.stdout.write(`checking keyway-${toggle.name}\n`);
    const port = await freePort();
    const bootstrap = keywayStaticBootstrap(resources, toggle, port);
    if (process.env.KEYWAY_NATIVE_CHECK_DUMP) writeFileSync(process.env.KEYWAY_NATIVE_CHECK_DUMP, JSON.stringify(bootstrap, null, 1));
    const envoy: EnvoyProcess = await startEnvoy({ bootstrap, concurrency: 1, env: toggle.envoyEnv!() });
    cleanups.push(() => envoy.stop());
    await eventually('every node healthy in keyway-cache', () => envoy.clusters('keyway-cache'), { accept: (hs) => hs.length === 4 && hs.every((h) => h.healthy), timeoutMs: 30_000, intervalMs: 100 });

    // 1. Every shard by x-cache-shard reaches its primary.
    for (let s = 0; s < S; s++) {
      const a = await get(port, [['x-cache-shard', String(s)]]);
      check(a.status === 200 && a.servedBy === owners.get(s)![0], `shard ${s}: ${a.status} ${a.servedBy}, want ${owners.get(s)![0]}`);
      if (a.status === 200) check((JSON.parse(a.body) as { shard: string }).shard === String(s), `shard ${s}: node saw ${a.body}`);
    }
    // 2. Keys: the vectors at S = 1024 and random keys, by the key header alone.
    const vectors = (JSON.parse(readFileSync(path.join(REPO_ROOT, 'testdata', 'vectors', 'key-to-shard.json'), 'utf8')) as { vectors: { key: string; shards: number; shard: number }[] }).vectors;
    const keys = vectors.filter((v) => v.shards === S && v.key !== '' && /^[\x21-\x7e][\x20-\x7e]*[\x21-\x7e]$|^[\x21-\x7e]$/.test(v.key)).map((v) => v.key);
    for (let i = 0; i < 2000; i++) keys.push(`user:${(i * 7919) % 100_000}:${Math.random().toString(36).slice(2)}`);
    let keyed = 0;
    for (const key of keys) {
      const s = keyToShard(key, S);
      const a = await get(port, [['x-cache-key', key]]);
      check(a.status === 200 && a.servedBy === owners.get(s)![0], `key ${JSON.stringify(key)} (shard ${s}): ${a.status} ${a.servedBy}, want ${owners.get(s)![0]}`);
      if (a.status === 200) check((JSON.parse(a.body) as { shard: string }).shard === String(s), `key ${key}: node saw ${a.body}`);
      keyed++;
    }
    // Non-ASCII keys as UTF-8 bytes on the wire.
    const utf8 = vectors.filter((v) => v.shards === S && /[\u0080-\uffff]/.test(v.key));
    for (const v of utf8) {
      const a = await get(port, [['x-cache-key', Buffer.from(v.key, 'utf8').toString('latin1')]]);
      check(a.status === 200 && a.servedBy === owners.get(v.shard)![0], `utf-8 key ${JSON.stringify(v.key)} (shard ${v.shard}): ${a.status} ${a.servedBy}`);
    }
    // 3. Bad input.
    const bad: [string, [string, string][], number][] = [
      ['shard 07', [['x-cache-shard', '07']], 400],
      ['shard 1024', [['x-cache-shard', '1024']], 400],
      ['shard -1', [['x-cache-shard', '-1']], 400],
      ['shard abc', [['x-cache-shard', 'abc']], 400],
      ['shard empty', [['x-cache-shard', '']], 400],
      ['shard twice (same value)', [['x-cache-shard', '5'], ['x-cache-shard', '5']], 400],
      ['shard twice with a key', [['x-cache-shard', '5'], ['x-cache-shard', '6'], ['x-cache-key', 'a']], 400],
      ['key twice', [['x-cache-key', 'a'], ['x-cache-key', 'b']], 400],
      ['neither header', [], 400],
    ];
    for (const [what, headers, status] of bad) {
      const a = await get(port, headers);
      check(a.status === status && a.servedBy === undefined, `${what}: ${a.status} ${a.servedBy ?? ''} ${a.body.trim()}`);
      process.stdout.write(`  ${what}: ${a.status} ${a.body.trim()}\n`);
    }
    // A client cannot pick its own endpoint.
    const own = await get(port, [['x-cache-shard', '0'], ['x-gateway-destination-endpoint', `127.0.0.1:${nodes.find((n) => n.id !== owners.get(0)![0])!.port}`]]);
    check(own.servedBy === owners.get(0)![0], `client-sent destination: served by ${own.servedBy}`);

    // 4. One node down: its shards go to their second owner, through the retry.
    const down = nodes[1]!;
    await down.stop();
    const led = [...owners].filter(([, o]) => o[0] === down.id).map(([s]) => s);
    let replica = 0;
    for (const s of led) {
      const a = await get(port, [['x-cache-shard', String(s)]]);
      check(a.status === 200 && a.servedBy === owners.get(s)![1], `shard ${s} with ${down.id} down: ${a.status} ${a.servedBy}, want ${owners.get(s)![1]}`);
      if (a.servedBy === owners.get(s)![1]) replica++;
    }
    const others = [...owners].filter(([, o]) => o[0] !== down.id).slice(0, 200);
    for (const [s, o] of others) {
      const a = await get(port, [['x-cache-shard', String(s)]]);
      check(a.status === 200 && a.servedBy === o[0], `shard ${s} (primary up) with ${down.id} down: ${a.status} ${a.servedBy}`);
    }
    const retries = async (): Promise<number> => (await envoy.statValue('cluster.keyway-cache.upstream_rq_retry')) ?? 0;
    const before = await retries();
    // 5. Once the health check has marked the node down: does override_host still try it first?
    await eventually(`${down.id} unhealthy in Envoy`, () => envoy.clusters('keyway-cache'), { accept: (hs) => hs.some((h) => h.port === down.port && !h.healthy), timeoutMs: 30_000, intervalMs: 200 });
    for (const s of led) {
      const a = await get(port, [['x-cache-shard', String(s)]]);
      check(a.status === 200 && a.servedBy === owners.get(s)![1], `shard ${s} with ${down.id} marked unhealthy: ${a.status} ${a.servedBy}, want ${owners.get(s)![1]}`);
    }
    process.stdout.write(`${down.id} marked unhealthy: ${led.length} requests to its shards took ${(await retries()) - before} retries\n`);
    const stats = await envoy.stats('cluster.keyway-cache.upstream_rq_retry');
    process.stdout.write(
      `shards by header: ${S}; keys: ${keyed} ascii + ${utf8.length} utf-8; bad requests: ${bad.length}; ` +
        `${down.id} down: ${replica}/${led.length} of its shards served by their replica; retry stats ${JSON.stringify(Object.fromEntries(stats))}\n`,
    );
  } finally {
    for (const c of cleanups.reverse()) await c().catch(() => {});
    agent.destroy();
    rmSync(dir, { recursive: true, force: true });
  }
  process.stdout.write(failures === 0 ? 'native picker: all checks passed\n' : `native picker: ${failures} checks FAILED\n`);
  process.exitCode = failures === 0 ? 0 : 1;
}

await main();
