import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { startServer } from '../../../src/app/index.js';
import { keyToShard } from '../../../src/sharding/index.js';
import { CACHE_NODE_METRICS as C } from '../../../src/telemetry/index.js';
import { startCacheNodeServer } from '../../../examples/cache-node/server.js';
import { tempTopology, topologyText } from '../../serve/support.js';
import { eventually } from '../../support/eventually.js';
import { freePort } from '../../../e2e/support/ports.js';
import { parseExposition } from '../support/exposition.js';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const FAST = { debounce: { holdOffMs: 20, maxDelayMs: 100 }, pollIntervalMs: 100 };

async function keywayWith(t: { after(fn: () => Promise<void>): void }, n = 3) {
  const topo = await tempTopology(topologyText({ shards: 64, replicas: 2, ready: Array.from({ length: n }, () => true) }));
  // A port below the ephemeral range: after keyway closes, the node's polls must be refused, and a
  // port-0 listener in a test beside this one could otherwise be handed the port and answer them.
  const server = await startServer({ configFile: topo.file, httpPort: await freePort(), host: '127.0.0.1', fileWatch: FAST });
  t.after(async () => {
    await server.close();
    await topo.cleanup();
  });
  return { server, topo, url: `http://127.0.0.1:${server.httpPort}` };
}

/** Keys whose shard e0 owns, and keys whose shard it does not, by keyway's own lookup. */
async function keysByOwnership(keywayUrl: string, node: string): Promise<{ owned: string[]; foreign: string[] }> {
  const owned: string[] = [];
  const foreign: string[] = [];
  for (let i = 0; i < 200 && (owned.length < 3 || foreign.length < 3); i++) {
    const key = `user:${i}`;
    const res = (await (await fetch(`${keywayUrl}/v1/lookup?key=${encodeURIComponent(key)}`)).json()) as { owners: string[] };
    (res.owners.includes(node) ? owned : foreign).push(key);
  }
  return { owned, foreign };
}

test('the cache node learns its shards from keyway, serves keys through its tiers and counts hits, misses and non-owner requests', async (t) => {
  const keyway = await keywayWith(t);
  const node = await startCacheNodeServer({ id: 'e0', keywayUrl: keyway.url, l1Capacity: 100, l3DelayMs: 0, pollIntervalMs: 100, grpcPort: 0, shardMetrics: true });
  t.after(() => node.close());
  const ownership = await eventually('ownership from keyway', () => node.ownership());
  const map = keyway.server.state.current()!.map;
  assert.equal(ownership.version, map.version);
  assert.deepEqual(
    [...ownership.primary].sort((a, b) => a - b),
    map.owners.flatMap((o, s) => (o[0] === 'e0' ? [s] : [])),
  );
  assert.deepEqual(ownership.locality, { region: 'r', zone: 'z0', subzone: 'f0' }, 'labels default to what keyway says');

  const { owned, foreign } = await keysByOwnership(keyway.url, 'e0');
  const get = async (p: string, headers: Record<string, string> = {}) => {
    const res = await fetch(`${node.url}${p}`, { headers });
    return { status: res.status, headers: res.headers, body: (await res.json()) as Record<string, unknown> };
  };
  const first = await get(`/kv/${encodeURIComponent(owned[0]!)}`);
  assert.equal(first.status, 200);
  assert.deepEqual([first.body.tier, first.body.owner, first.body.shard, first.body.node], ['l3', 'true', keyToShard(owned[0]!, 64), 'e0']);
  assert.equal(first.headers.get('x-served-by'), 'e0');
  const second = await get(`/kv/${encodeURIComponent(owned[0]!)}`);
  assert.equal(second.body.tier, 'l1');
  assert.equal(second.body.value, first.body.value);

  const misrouted = await get(`/kv/${encodeURIComponent(foreign[0]!)}`);
  assert.deepEqual([misrouted.body.owner, misrouted.body.tier], ['false', 'l3']);
  assert.equal((await get(`/kv/${encodeURIComponent(foreign[0]!)}`)).body.tier, 'l2', 'a non-owned key stays out of L1');

  // Any path carrying x-cache-shard is served with the header's shard (what the proxy routed on).
  const routed = await get('/embeddings/doc-9?chunk=2', { 'x-cache-shard': String([...ownership.replica][0] ?? [...ownership.primary][0]) });
  assert.equal(routed.status, 200);
  assert.equal(routed.body.key, '/embeddings/doc-9?chunk=2');
  assert.equal(routed.body.owner, 'true');
  assert.equal((await get('/kv/x', { 'x-cache-shard': 'seven' })).status, 400);
  assert.equal((await get('/kv/x', { 'x-cache-shard': '64' })).status, 400, 'shards are 0..63');
  assert.equal((await get('/nothing-here')).status, 404);

  const exp = parseExposition(await (await fetch(`${node.url}/metrics`)).text());
  const ownedShard = String(keyToShard(owned[0]!, 64));
  const labels = { node: 'e0', zone: 'z0', subzone: 'f0', region: 'r' };
  assert.equal(exp.value(C.lookups, { ...labels, shard: ownedShard, tier: 'l1', result: 'hit' }), 1);
  assert.equal(exp.value(C.lookups, { ...labels, shard: ownedShard, tier: 'l1', result: 'miss' }), 1);
  assert.equal(exp.value(C.lookups, { ...labels, shard: ownedShard, tier: 'l3', result: 'hit' }), 1);
  assert.equal(exp.value(C.requests, { ...labels, shard: ownedShard, owner: 'true' }), 2);
  assert.equal(exp.value(C.requests, { ...labels, shard: String(keyToShard(foreign[0]!, 64)), owner: 'false' }), 2);
  assert.equal(exp.value(C.ownedShards, { ...labels, role: 'primary' }), ownership.primary.size);
  assert.equal(exp.value(C.ownedShards, { ...labels, role: 'replica' }), ownership.replica.size);
  assert.equal(exp.value(C.entries, { ...labels, tier: 'l1' }), node.cache.l1.size);
  assert.ok(exp.value(C.shardMapAge, labels) < 5);
  assert.equal(exp.types.get(C.lookups), 'counter');

  // gRPC: the shard arrives as metadata, like the header.
  const pkg = grpc.loadPackageDefinition(protoLoader.loadSync(path.join(REPO, 'examples/cache-node/cache.proto'))) as unknown as {
    keyway: { example: { cache: { v1: { Cache: grpc.ServiceClientConstructor } } } };
  };
  const client = new pkg.keyway.example.cache.v1.Cache(`127.0.0.1:${node.grpcPort}`, grpc.credentials.createInsecure());
  t.after(() => client.close());
  const call = (key: string, md: grpc.Metadata) =>
    new Promise<Record<string, unknown>>((resolve, reject) =>
      (client as unknown as { Get: (r: unknown, m: grpc.Metadata, cb: (e: Error | null, v: Record<string, unknown>) => void) => void }).Get(
        { key },
        md,
        (err, v) => (err ? reject(err) : resolve(v)),
      ),
    );
  const reply = await call(owned[0]!, new grpc.Metadata());
  assert.deepEqual([reply.tier, reply.owner, reply.node, reply.value], ['l1', 'true', 'e0', first.body.value]);
  const md = new grpc.Metadata();
  md.set('x-cache-shard', 'bad');
  await assert.rejects(call('k', md), (err: grpc.ServiceError) => err.code === grpc.status.INVALID_ARGUMENT);
});

test('ownership follows topology changes, and the last ownership stays when keyway is gone', async (t) => {
  const keyway = await keywayWith(t, 2);
  const errors: string[] = [];
  const node = await startCacheNodeServer({
    id: 'e0',
    keywayUrl: keyway.url,
    l3DelayMs: 0,
    pollIntervalMs: 50,
    zone: 'flag-zone',
    log: (r) => {
      if (typeof r.err === 'string') errors.push(r.err);
    },
  });
  t.after(() => node.close());
  const before = await eventually('first ownership', () => node.ownership());
  const owned2 = before.primary.size + before.replica.size;
  assert.equal(owned2, 64, 'with two nodes and R=2 each owns every shard');

  await keyway.topo.write(topologyText({ shards: 64, replicas: 2, ready: [true, true, true, true] }));
  const after = await eventually('a new version at the node', () => {
    const o = node.ownership();
    return o && o.version !== before.version ? o : undefined;
  });
  assert.ok(after.primary.size + after.replica.size < owned2, 'new nodes took shards from e0');
  const exp = parseExposition(await (await fetch(`${node.url}/metrics`)).text());
  assert.equal(exp.find(C.entries, { zone: 'flag-zone', subzone: 'f0' }).length, 2, 'a flag overrides one label, keyway fills the others');

  await keyway.server.close();
  await eventually('a failed poll', () => errors.length > 0);
  assert.equal(node.ownership()?.version, after.version, 'the last good ownership is kept');
  const res = await fetch(`${node.url}/kv/anything`);
  assert.equal(res.status, 200);
  assert.notEqual(((await res.json()) as { owner: string }).owner, 'unknown');
});

test('the CLI prints its bound ports as a JSON line, refuses a bad flag with exit code 2, and exits 0 on SIGTERM', async () => {
  const bad = spawn(process.execPath, ['--import', 'tsx', 'examples/cache-node/main.ts', '--id', 'n', '--l1-capacity', 'lots'], { cwd: REPO });
  let stderr = '';
  bad.stderr.on('data', (c: Buffer) => (stderr += c));
  const badExit = once(bad, 'exit');
  // Both processes start side by side; the bad flag is checked first.
  const child = spawn(process.execPath, ['--import', 'tsx', 'examples/cache-node/main.ts', '--id', 'cli-node', '--host', '127.0.0.1', '--port', '0', '--zone', 'z'], {
    cwd: REPO,
  });
  let out = '';
  child.stdout.on('data', (c: Buffer) => (out += c));
  const childExit = once(child, 'exit');
  // Flags that would otherwise fail later, or quietly: each a usage error naming the flag.
  const refusals = [
    [['--port', '70000'], /--port must be an integer in 0\.\.65535, got "70000"/],
    [['--keyway-xds', '127.0.0.1:99999'], /--keyway-xds must be host:port with a port in 1\.\.65535, got "127\.0\.0\.1:99999"/],
    [['--keyway-xds', ','], /--keyway-xds names no address/],
    [['--keyway-url', 'https://keyway:8080'], /--keyway-url must be an http:\/\/ URL/],
  ] as const;
  const refused = refusals.map(([args]) => {
    const p = spawn(process.execPath, ['--import', 'tsx', 'examples/cache-node/main.ts', '--id', 'n', ...args], { cwd: REPO });
    let err = '';
    p.stderr.on('data', (c: Buffer) => (err += c));
    return once(p, 'exit').then(([c]) => ({ code: c as number, err }));
  });
  try {
    const [badCode] = (await badExit) as [number];
    assert.equal(badCode, 2);
    assert.match(stderr, /--l1-capacity must be an integer >= 0/);
    for (const [i, r] of (await Promise.all(refused)).entries()) {
      assert.equal(r.code, 2, r.err);
      assert.match(r.err, refusals[i]![1]);
    }

    const line = await eventually('the listening line', () => out.split('\n').find((l) => l.includes('"listening"')), { timeoutMs: 20_000 });
    const { httpPort, node } = JSON.parse(line) as { httpPort: number; node: string };
    assert.equal(node, 'cli-node');
    const res = await fetch(`http://127.0.0.1:${httpPort}/kv/k`);
    assert.equal(((await res.json()) as { owner: string }).owner, 'unknown', 'without --keyway-url ownership is unknown');
    assert.equal((await fetch(`http://127.0.0.1:${httpPort}/healthz`)).status, 200);
  } finally {
    child.kill('SIGTERM');
  }
  const [code] = (await childExit) as [number];
  assert.equal(code, 0);
});
