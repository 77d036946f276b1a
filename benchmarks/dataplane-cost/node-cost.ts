/**
 * What keyway's ownership costs an example cache node per request, paired: one node that learns
 * its shards from keyway's ownership stream (as in the data-plane cost benchmark's keyway fleet)
 * and one that knows nothing of keyway (the ring_hash fleet's), sent the same requests at the same
 * time, straight from the client (no Envoy): the keys whose primary is the keyway node, each with
 * the `x-cache-shard` Envoy would add, each node sent a request first for half of them. CPU from
 * each node's schedstat over the same slices.
 *
 *   node --import tsx benchmarks/dataplane-cost/node-cost.ts [--slices 8] [--rate 400] [--hot on|off] [--peers 0] [--aa]
 *
 * --peers N: N more endpoints in keyway's topology that do not run (0 by default: the keyway node
 * then owns every shard; with peers it waits on handoffs and warm-ups from nodes that never answer,
 * which costs it CPU no fleet pays). --aa: the "keyway" node runs without keyway too, an A/A
 * control of the pairing.
 *
 * Extra node flags for both: KEYWAY_NODE_ARGS; for the keyway node only: KEYWAY_NODE_ARGS_KEYWAY.
 */
import http from 'node:http';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import { startKeyway } from '../../e2e/support/keyway.js';
import { freePorts } from '../../e2e/support/ports.js';
import { keyToShard } from '../../src/sharding/key-to-shard.js';
// The shared median: the one here took the upper middle value of an even count (8 and 20 slices).
import { median } from '../hitrate/stats.js';
import { keyOfRank, ZipfSampler } from '../hitrate/zipf.js';
import { cpuMs } from './cpu.js';
import { startCacheNode } from './nodes.js';

const { values } = parseArgs({ options: { slices: { type: 'string' }, rate: { type: 'string' }, hot: { type: 'string' }, peers: { type: 'string' }, aa: { type: 'boolean' } } });
const peers = Number(values.peers ?? 0);
const slices = Number(values.slices ?? 8);
const rate = Number(values.rate ?? 400);
const S = 1024;

const dir = mkdtempSync(path.join(os.tmpdir(), 'keyway-node-cost-'));
const ports = await freePorts(2);
writeFileSync(
  path.join(dir, 'topology.yaml'),
  [
    `shards: ${S}`,
    `replicas: ${peers > 0 ? 2 : 1}`,
    ...(values.hot === 'off' ? ['hotShards: {enabled: false}'] : []),
    'endpoints:',
    ...[ports[0]!, ...Array.from({ length: peers }, (_, i) => 1 + i)].map((p, i) => `  - {id: n${i}, address: 127.0.0.1, port: ${p}, locality: {region: r, zone: z, subzone: f}, weight: 1}`),
  ].join('\n') + '\n',
);
const keyway = await startKeyway({ configPath: path.join(dir, 'topology.yaml'), httpPort: 0, xdsPort: 0 });
const common = ['--l1-capacity', '2000', '--l2-capacity', '20000', '--l3-delay-ms', '20', ...(process.env.KEYWAY_NODE_ARGS?.split(' ').filter(Boolean) ?? [])];
const own = await startCacheNode('n0', ports[0]!, [...common, ...(values.aa ? [] : ['--keyway-xds', `127.0.0.1:${keyway.xdsPort}`]), ...(process.env.KEYWAY_NODE_ARGS_KEYWAY?.split(' ').filter(Boolean) ?? [])], dir);
const solo = await startCacheNode('solo', ports[1]!, common, dir);
try {
  const map = (await (await fetch(`${keyway.httpUrl}/v1/shardmap`)).json()) as { shards: { shard: number; owners: string[] }[] };
  const mine = new Set(map.shards.filter((s) => s.owners[0] === 'n0').map((s) => s.shard));
  const sampler = new ZipfSampler(100_000, 1.0, 20_261_204);
  const keys: { key: string; shard: number }[] = [];
  while (keys.length < 200_000) {
    const key = keyOfRank(sampler.next());
    const shard = keyToShard(key, S);
    if (mine.has(shard)) keys.push({ key, shard });
  }
  const agent = new http.Agent({ keepAlive: true, maxSockets: 16 });
  const get = (port: number, k: { key: string; shard: number }): Promise<string> =>
    new Promise((resolve) => {
      const req = http.request({ host: '127.0.0.1', port, path: `/kv/${encodeURIComponent(k.key)}`, agent, headers: { 'x-cache-shard': String(k.shard) } }, (res) => {
        res.resume();
        res.on('end', () => resolve(String(res.headers['x-cache-tier'] ?? res.statusCode)));
      });
      req.on('error', () => resolve('error'));
      req.end();
    });
  let next = 0;
  const tiers = { own: new Map<string, number>(), solo: new Map<string, number>() };
  const drive = async (ms: number): Promise<number> => {
    const until = performance.now() + ms;
    let sent = 0;
    const inflight: Promise<unknown>[] = [];
    for (let at = performance.now(); at < until; at += 1000 / rate) {
      const wait = at - performance.now();
      if (wait > 1) await sleep(wait);
      const k = keys[next++ % keys.length]!;
      const toOwn = (): number => inflight.push(get(ports[0]!, k).then((t) => tiers.own.set(t, (tiers.own.get(t) ?? 0) + 1)));
      const toSolo = (): number => inflight.push(get(ports[1]!, k).then((t) => tiers.solo.set(t, (tiers.solo.get(t) ?? 0) + 1)));
      // The node that answers first may find the client idle: each goes first for half the requests.
      if (sent % 2) {
        toSolo();
        toOwn();
      } else {
        toOwn();
        toSolo();
      }
      sent++;
    }
    await Promise.all(inflight);
    return sent;
  };
  await drive(10_000); // warm both caches
  tiers.own.clear();
  tiers.solo.clear();
  const ratios: number[] = [];
  const per1000 = { own: [] as number[], solo: [] as number[] };
  for (let i = 0; i < slices; i++) {
    const a0 = cpuMs(own.pid);
    const b0 = cpuMs(solo.pid);
    const sent = await drive(2_000);
    const a = ((cpuMs(own.pid) - a0) / sent) * 1000;
    const b = ((cpuMs(solo.pid) - b0) / sent) * 1000;
    per1000.own.push(a);
    per1000.solo.push(b);
    ratios.push(a / b);
    process.stderr.write(`slice ${i}: keyway node ${a.toFixed(1)} ms/1000, solo ${b.toFixed(1)}, ratio ${(a / b).toFixed(3)}\n`);
  }
  process.stdout.write(
    `keyway node ${median(per1000.own).toFixed(1)} ms/1000, solo ${median(per1000.solo).toFixed(1)}; ratio median ${median(ratios).toFixed(3)} (${Math.min(...ratios).toFixed(3)}-${Math.max(...ratios).toFixed(3)})\n` +
      `tiers keyway ${JSON.stringify(Object.fromEntries(tiers.own))} solo ${JSON.stringify(Object.fromEntries(tiers.solo))}\n`,
  );
  agent.destroy();
} finally {
  await Promise.all([own.stop(), solo.stop()]);
  await keyway.stop();
  rmSync(dir, { recursive: true, force: true });
}
