// ShardMapClient honours hot shards' readers (docs/hot-shards.md): against keyway in the test process
// with a load snapshot that spreads a shard, pick() draws one of the shard's first k owners by
// endpoint weight, as proxies do, never an owner past k, and the primary for every other shard; the
// client follows the map back to plain rendezvous. Against a scripted server: `readers` and
// `weight` are checked, readers are capped at the owners listed, and equal hot shards share a draw.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ShardMapClient, shardFor, KeywayError, type Owner } from '../../src/client/index.js';
import type { LookupBody, ShardMapBody } from '../../src/admin/api-types.js';
import type { LoadSnapshot } from '../../src/core/load.js';
import { startServer } from '../../src/app/index.js';
import { FedSnapshots } from '../support/fed-snapshots.js';
import { eventually } from '../support/eventually.js';
import { tempTopology, topologyText } from '../serve/support.js';

const S = 64;
const HOT = 5;
const WEIGHTS = [10, 20, 30, 40];

/** Shard HOT carries 60 % of 1000 rps; the rest spread evenly (as test/serve/hot-shards.test.ts). */
function hotSnapshot(): LoadSnapshot {
  const shards = Array.from({ length: S }, (_, s) => ({ shard: s, requests: s === HOT ? 600 : 400 / (S - 1) }));
  return { windowStartMs: 1_700_000_000_000, windowMs: 10_000, shards, nodes: [] };
}

/** A key of shard `shard`. */
function keyOf(shard: number): string {
  for (let i = 0; ; i++) if (shardFor(`key-${i}`, S) === shard) return `key-${i}`;
}

/** How often each owner id comes out of `draws` picks. */
function tally(draws: number, pick: () => Owner | undefined): Map<string, number> {
  const seen = new Map<string, number>();
  for (let i = 0; i < draws; i++) {
    const id = pick()!.id;
    seen.set(id, (seen.get(id) ?? 0) + 1);
  }
  return seen;
}

test('ShardMapClient.pick spreads a hot shard over its readers by weight, never past k, and follows the map back', { timeout: 30_000 }, async (t) => {
  const topo = await tempTopology(topologyText({ shards: S, replicas: 2, ready: [true, true, true, true], weights: WEIGHTS }));
  const snapshots = new FedSnapshots();
  snapshots.feed([hotSnapshot()]);
  const server = await startServer({ configFile: topo.file, httpPort: 0, host: '127.0.0.1', loadSnapshots: snapshots });
  t.after(async () => {
    await server.close();
    await topo.cleanup();
  });
  const base = `http://127.0.0.1:${server.httpPort}/`;
  const client = await ShardMapClient.connect({ baseUrl: base, pollIntervalMs: 50 });
  t.after(() => client.close());

  const body = (await (await fetch(new URL('v1/shardmap', base))).json()) as ShardMapBody;
  const k = body.shards[HOT]!.readers ?? 1;
  assert.ok(k >= 3, `shard ${HOT} spread over ${k} readers`);
  assert.ok(body.shards[HOT]!.owners.length >= k);

  // readers() says what /v1/shardmap and /v1/lookup say, for every shard.
  for (const s of body.shards) assert.equal(client.readersOfShard(s.shard), Math.min(s.readers ?? 1, s.owners.length), `shard ${s.shard}`);
  const key = keyOf(HOT);
  const lookup = (await (await fetch(new URL(`v1/lookup?key=${key}`, base))).json()) as LookupBody;
  assert.equal(client.readers(key), lookup.readers);

  // The draw by weight over the first k owners: its bounds pinned, then its frequencies.
  const owners = client.ownersOfShard(HOT);
  assert.equal(client.pickForShard(HOT, () => 0), owners[0]);
  assert.equal(client.pickForShard(HOT, () => 1 - Number.EPSILON), owners[k - 1]);
  assert.equal(client.pickForShard(HOT, () => 1), owners[k - 1], 'a random() of 1 stays within the readers');
  assert.equal(client.pickForShard(HOT, () => NaN), owners[k - 1]);
  const weightOf = new Map(body.endpoints.map((e) => [e.id, e.weight]));
  const readerIds = owners.slice(0, k).map((o) => o.id);
  const total = readerIds.reduce((a, id) => a + weightOf.get(id)!, 0);
  const draws = 40_000;
  const seen = tally(draws, () => client.pick(key));
  assert.deepEqual([...seen.keys()].sort(), [...readerIds].sort(), 'every reader drawn, no owner past k');
  for (const id of readerIds) {
    const share = seen.get(id)! / draws;
    const want = weightOf.get(id)! / total;
    assert.ok(Math.abs(share - want) < 0.015, `${id}: drawn ${share.toFixed(3)}, weight share ${want.toFixed(3)}`);
  }

  // Every other shard goes to its primary, as owners(key)[0] did.
  for (let s = 0; s < S; s++) {
    if (client.readersOfShard(s) > 1) continue;
    assert.equal(client.pickForShard(s, () => 0.99), client.ownersOfShard(s)[0], `shard ${s}`);
  }
  assert.throws(() => client.pickForShard(S), (e: KeywayError) => e.code === 'BAD_ARGUMENT' && e.location.field === 'shard');
  assert.throws(() => client.readersOfShard(-1), (e: KeywayError) => e.code === 'BAD_ARGUMENT');

  // Load reports stop: the plain map comes back and the client sends the shard to its primary again.
  const hotVersion = client.version;
  snapshots.feed([]);
  await eventually('the client to follow the plain map', () => client.version !== hotVersion, { timeoutMs: 10_000 });
  assert.equal(client.readers(key), 1);
  const primary = client.owners(key)[0];
  assert.deepEqual([...tally(1000, () => client.pick(key)).keys()], [primary!.id]);
});

/** A stand-in for keyway's /v1/shardmap that answers `map`. */
async function scriptedKeyway(t: TestContext, map: () => unknown): Promise<string> {
  const server = createServer((_req, res) => void res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(map())));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => {
    server.closeAllConnections();
    return new Promise<void>((r) => server.close(() => r()));
  });
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
}

function endpoint(id: string, weight?: unknown): Record<string, unknown> {
  return { id, address: '127.0.0.1', port: 7000, ...(weight !== undefined ? { weight } : {}) };
}

test('ShardMapClient readers: capped at the owners listed, weights as proxies use them, bad values refused', async (t) => {
  let shards: unknown[] = [];
  const endpoints = [endpoint('a', 1), endpoint('b', 3), endpoint('c', 0)];
  const baseUrl = await scriptedKeyway(t, () => ({ version: 'v', shardCount: 3, shards, endpoints }));
  const client = new ShardMapClient({ baseUrl, pollIntervalMs: 0 });

  shards = [
    { shard: 0, owners: ['a', 'b', 'c'], readers: 2 },
    { shard: 1, owners: ['b', 'a'], readers: 9 }, // more readers than owners: all of them
    { shard: 2, owners: [] },
  ];
  await client.refresh();
  assert.deepEqual([0, 1, 2].map((s) => client.readersOfShard(s)), [2, 2, 0]);
  assert.equal(client.pickForShard(2), undefined, 'no owner, nothing to pick');
  // Weights 1 and 3: a draw below 1/4 is a, above is b; c (third) is never drawn.
  assert.equal(client.pickForShard(0, () => 0.24)?.id, 'a');
  assert.equal(client.pickForShard(0, () => 0.26)?.id, 'b');
  assert.equal(client.pickForShard(1, () => 0.74)?.id, 'b');
  assert.equal(client.pickForShard(1, () => 0.76)?.id, 'a');

  // Weight 0 takes the smallest share proxies give (keyway's load-balancing weight, weight x 100, is
  // at least 1): c at 0 against a at 1 is 1 to 100.
  const zero = new ShardMapClient({ baseUrl: await scriptedKeyway(t, () => ({ version: 'v', shardCount: 1, shards: [{ shard: 0, owners: ['c', 'a'], readers: 2 }], endpoints })), pollIntervalMs: 0 });
  await zero.refresh();
  assert.equal(zero.pickForShard(0, () => 0.5 / 101)?.id, 'c');
  assert.equal(zero.pickForShard(0, () => 1.5 / 101)?.id, 'a');

  // Endpoints without a weight (an older body) are drawn evenly.
  const even = new ShardMapClient({ baseUrl: await scriptedKeyway(t, () => ({ version: 'v', shardCount: 1, shards: [{ shard: 0, owners: ['a', 'b'], readers: 2 }], endpoints: [endpoint('a'), endpoint('b')] })), pollIntervalMs: 0 });
  await even.refresh();
  assert.equal(even.pickForShard(0, () => 0.49)?.id, 'a');
  assert.equal(even.pickForShard(0, () => 0.51)?.id, 'b');

  // An owner keyway lists as neither ready nor draining (a replica that failed while its shard is
  // handed off) is passed over, as the translator leaves it out for proxies; a reader is not replaced.
  const down = { ...endpoint('d', 5), ready: false, draining: false };
  const draining = { ...endpoint('e', 1), ready: false, draining: true };
  const mixed = new ShardMapClient({
    baseUrl: await scriptedKeyway(t, () => ({
      version: 'v',
      shardCount: 5,
      shards: [
        { shard: 0, owners: ['d', 'a', 'b'], readers: 2 }, // a alone of the readers serves
        { shard: 1, owners: ['d', 'e'], readers: 2 }, // e drains: it still serves
        { shard: 2, owners: ['d', 'b'] }, // primary down, k = 1: the next owner that serves
        { shard: 3, owners: ['d'], readers: 1 }, // nobody serves: the primary all the same
        { shard: 4, owners: ['a', 'd'], readers: 2 },
      ],
      endpoints: [endpoint('a', 1), endpoint('b', 3), down, draining],
    })),
    pollIntervalMs: 0,
  });
  await mixed.refresh();
  const ids = (shard: number): string[] => [...new Set([0, 0.3, 0.6, 0.99].map((x) => mixed.pickForShard(shard, () => x)!.id))];
  assert.deepEqual([0, 1, 2, 3, 4].map(ids), [['a'], ['e'], ['b'], ['d'], ['a']]);
  assert.deepEqual([0, 1, 2, 3, 4].map((s) => mixed.readersOfShard(s)), [2, 2, 1, 1, 2], 'readers as /v1/lookup gives them');

  // A readers or weight that is not keyway's is not a shard map; the last good map stays.
  for (const [bad, what] of [
    [{ shards: [{ shard: 0, owners: ['a'], readers: 0 }], endpoints: [endpoint('a', 1)] }, /shard 0: readers 0/],
    [{ shards: [{ shard: 0, owners: ['a'], readers: 1.5 }], endpoints: [endpoint('a', 1)] }, /shard 0: readers 1.5/],
    [{ shards: [{ shard: 0, owners: ['a'], readers: '2' }], endpoints: [endpoint('a', 1)] }, /shard 0: readers "2"/],
    [{ shards: [{ shard: 0, owners: ['a'] }], endpoints: [endpoint('a', -1)] }, /endpoint a: weight -1/],
    [{ shards: [{ shard: 0, owners: ['a'] }], endpoints: [endpoint('a', 'heavy')] }, /endpoint a: weight "heavy"/],
    // A port no one can dial: not an integer, out of range.
    [{ shards: [{ shard: 0, owners: ['a'] }], endpoints: [{ ...endpoint('a', 1), port: 1.5 }] }, /endpoint a: port 1\.5$/],
    [{ shards: [{ shard: 0, owners: ['a'] }], endpoints: [{ ...endpoint('a', 1), port: 0 }] }, /endpoint a: port 0$/],
    [{ shards: [{ shard: 0, owners: ['a'] }], endpoints: [{ ...endpoint('a', 1), port: 65536 }] }, /endpoint a: port 65536$/],
  ] as const) {
    const c = new ShardMapClient({ baseUrl: await scriptedKeyway(t, () => ({ version: 'v', shardCount: 1, ...bad })), pollIntervalMs: 0 });
    await assert.rejects(c.refresh(), (e: KeywayError) => e.code === 'KEYWAY_UNAVAILABLE' && what.test(e.message), String(what));
  }
});

test('ShardMapClient readers: hot shards with the same owners and readers share one draw', async (t) => {
  // 4096 shards, every one spread over the same two owners: the held map grows with the distinct
  // (owner list, readers) pairs, not with S.
  const shards = Array.from({ length: 4096 }, (_, s) => ({ shard: s, owners: s % 2 ? ['a', 'b'] : ['b', 'a'], readers: 2 }));
  const baseUrl = await scriptedKeyway(t, () => ({ version: 'v', shardCount: 4096, shards, endpoints: [endpoint('a', 1), endpoint('b', 1)] }));
  const client = new ShardMapClient({ baseUrl, pollIntervalMs: 0 });
  await client.refresh();
  const draws = (client as unknown as { map: { picks: Map<number, object> } }).map.picks;
  assert.equal(draws.size, 4096);
  assert.equal(new Set(draws.values()).size, 2, 'one draw per distinct (owners, readers)');
});
