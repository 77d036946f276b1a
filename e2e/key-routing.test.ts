/**
 * Route by key, end to end: real Envoy (the pinned build and the oldest supported, see envoyBinaries())
 * bootstrapped with ADS to a real `keyway serve`, and local cache nodes that answer with their
 * identity and the `x-cache-shard` they received. keyway's listener carries the key-to-shard Lua
 * filter (src/xds/translator/envoy-key-shard.ts). Checked on each build, in order:
 * (a) every key of testdata/vectors/key-to-shard.json with S = 1024, and random keys (shard from
 *     keyToShard), sent with only `x-cache-key`, reach the primary of their shard, which receives
 *     that shard in `x-cache-shard`;
 * (b) a present `x-cache-shard` wins over the key;
 * (c) bad `x-cache-shard` values get 400 `x-cache-shard must be an integer in [0, 1024)` from
 *     Envoy with missingHeader `any`; a repeated key header gets 400 too;
 * (d) the same after a switch to missingHeader `reject`, where the key still routes (the Lua filter
 *     clears the route cache) and a request with neither header gets the route's 400;
 * (e) a request that carries `x-cache-shard` matches a route that leaves the Lua filter out of its
 *     chain, a key-only request runs it (checked where Envoy counts Lua executions: 1.37 and later, not 1.36).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { keyToShard } from '../src/sharding/index.js';
import { adsBootstrap } from './support/bootstrap.js';
import { startCacheNodes, type CacheNodes } from './support/cache-nodes.js';
import { envoyBinaries, envoyVersion, startEnvoy, type EnvoyProcess } from './support/envoy.js';
import { httpGetText, httpRequest } from './support/http.js';
import { startKeyway, type KeywayProcess } from './support/keyway.js';
import { freePort } from './support/ports.js';
import { stopStack } from './support/teardown.js';
import { eventually } from '../test/support/eventually.js';
import type { ShardMapBody } from '../test/support/rest-bodies.js';

const SHARDS = 1024;
const SERVICE = 'keyway-cache';
const NODE_IDS = ['node-0', 'node-1', 'node-2', 'node-3'];
const BAD_SHARD = `x-cache-shard must be an integer in [0, ${SHARDS})\n`;
const BAD_VALUES = ['07', 'abc', '5000', String(SHARDS), '-1', '1.5', '', ' ', '+3', '0x10', '00'];

interface KeyVector {
  readonly key: string;
  readonly shards: number;
  readonly shard: number;
}
const VECTOR_KEYS = (JSON.parse(readFileSync('testdata/vectors/key-to-shard.json', 'utf8')) as { vectors: KeyVector[] }).vectors.filter(
  (v) => v.shards === SHARDS,
);
/** Random keys (fixed seed): ASCII, multibyte, hash tags; HTTP strips a value's outer blanks, so none have them. */
const RANDOM_KEYS = fc
  .sample(
    fc.oneof(
      fc.string({ minLength: 1, maxLength: 30 }),
      fc.string({ unit: 'grapheme', minLength: 1, maxLength: 8 }),
      fc.tuple(fc.string({ maxLength: 5 }), fc.string({ minLength: 1, maxLength: 5 })).map(([a, b]) => `${a}{${b}}.x`),
    ),
    { numRuns: 400, seed: 7 },
  )
  .filter((k) => k === k.trim() && ![...k].some((c) => c.charCodeAt(0) < 0x20 || c === '\x7f'));

/** A header value carrying exactly the UTF-8 bytes of `s` (Node writes header strings as latin1). */
function utf8Header(s: string): string {
  return Buffer.from(s, 'utf8').toString('latin1');
}

interface Answer {
  readonly status: number;
  readonly servedBy: string | undefined;
  /** The `x-cache-shard` the node received, or undefined when Envoy answered by itself. */
  readonly shardSeen: string | null | undefined;
  readonly body: string;
}

for (const bin of envoyBinaries()) {
  const version = bin.skip ? bin.path : envoyVersion(bin.path);
  describe(`key routing on Envoy ${bin.label} (${version})`, { skip: bin.skip }, () => {
    let nodes: CacheNodes;
    let keyway: KeywayProcess;
    let envoy: EnvoyProcess;
    let dir: string;
    let topologyPath: string;
    let listener: string;
    let listenerPort: number;
    let writes = 0;
    let primaryOf: (shard: number) => string;

    function writeTopology(missingHeader: 'any' | 'reject'): void {
      const lines = [
        `shards: ${SHARDS}`,
        'replicas: 2',
        `service: ${SERVICE}`,
        `envoy: {listenerPort: ${listenerPort}, missingHeader: ${missingHeader}}`,
        'routing: {keyHeader: x-cache-key}',
        'endpoints:',
        ...NODE_IDS.flatMap((id, i) => [`  - {id: ${id}, address: 127.0.0.1, port: ${nodes.byId(id).port}, weight: ${10 + i}}`]),
      ];
      const tmp = path.join(dir, `.topology.${writes++}.tmp`);
      writeFileSync(tmp, `${lines.join('\n')}\n`);
      renameSync(tmp, topologyPath);
    }

    async function send(headers: Record<string, string | string[]>): Promise<Answer> {
      const res = await httpRequest(`${listener}/cache/k`, { headers, timeoutMs: 5_000 });
      const by = res.headers['x-served-by'];
      const servedBy = Array.isArray(by) ? by[0] : by;
      const shardSeen = servedBy === undefined ? undefined : (JSON.parse(res.body) as { shard: string | null }).shard;
      return { status: res.status, servedBy, shardSeen, body: res.body };
    }
    const byKey = (key: string): Promise<Answer> => send({ 'x-cache-key': utf8Header(key) });
    const diag = (): string => `\n--- envoy log ---\n${envoy?.logTail(30)}\n--- keyway log ---\n${keyway?.logTail(20)}`;

    /** Every key reaches its shard's primary carrying that shard. Bounded: converged already, so one try each. */
    async function checkKeys(keys: readonly { key: string; shard: number }[]): Promise<void> {
      for (const { key, shard } of keys) {
        const a = await byKey(key);
        assert.deepEqual(
          { status: a.status, servedBy: a.servedBy, shardSeen: a.shardSeen },
          { status: 200, servedBy: primaryOf(shard), shardSeen: String(shard) },
          `key ${JSON.stringify(key)} (shard ${shard}): ${a.body}`,
        );
      }
    }

    async function checkBadValues(): Promise<void> {
      for (const bad of BAD_VALUES) {
        const variants: Record<string, string>[] = [{ 'x-cache-shard': bad }, { 'x-cache-shard': bad, 'x-cache-key': 'user:1000' }];
        for (const headers of variants) {
          const a = await send(headers);
          assert.deepEqual({ status: a.status, body: a.body, servedBy: a.servedBy }, { status: 400, body: BAD_SHARD, servedBy: undefined }, JSON.stringify(headers));
        }
      }
      // Envoy 1.40 matches route headers value by value: these pass the valid-shard route and get
      // their 400 from the listener's local reply mapper; on 1.36 the joined value fails the route.
      for (const twice of [['1', '2'], ['1', '1'], ['x', '1'], ['1', String(SHARDS)]]) {
        const a = await send({ 'x-cache-shard': twice });
        assert.deepEqual([a.status, a.body, a.servedBy], [400, BAD_SHARD, undefined], `x-cache-shard sent twice: ${twice.join(', ')}`);
      }
      const twoKeys = await send({ 'x-cache-key': ['a', 'b'] });
      assert.deepEqual([twoKeys.status, twoKeys.body], [400, 'x-cache-key must be sent once\n'], 'x-cache-key sent twice');
    }

    before(async () => {
      nodes = await startCacheNodes(NODE_IDS);
      dir = mkdtempSync(path.join(tmpdir(), 'keyway-keyroute-e2e-'));
      topologyPath = path.join(dir, 'topology.yaml');
      listenerPort = await freePort();
      listener = `http://127.0.0.1:${listenerPort}`;
      writeTopology('any');
      keyway = await startKeyway({ configPath: topologyPath, readyTimeoutMs: 45_000 });
      envoy = await startEnvoy({ binary: bin.path, bootstrap: adsBootstrap({ xdsPort: keyway.xdsPort, nodeId: `envoy-keyroute-${bin.label}` }) });
      const map = JSON.parse(await httpGetText(`${keyway.httpUrl}/v1/shardmap`)) as ShardMapBody;
      assert.equal(map.shardCount, SHARDS);
      const primaries = map.shards.map((s) => s.owners[0]!);
      primaryOf = (shard) => primaries[shard]!;
      await eventually(`healthy hosts in cluster ${SERVICE}`, () => envoy.clusters(SERVICE), {
        accept: (hosts) => hosts.length >= NODE_IDS.length && hosts.every((h) => h.healthy),
        timeoutMs: 20_000,
      }).catch((err: Error) => assert.fail(`${err.message}${diag()}`));
      // Converged once the first vector key reaches its primary.
      const first = VECTOR_KEYS[1]!;
      await eventually('the first key on its primary', () => byKey(first.key), { accept: (a) => a.servedBy === primaryOf(first.shard), timeoutMs: 15_000 }).catch(
        (err: Error) => assert.fail(`${err.message}${diag()}`),
      );
    });

    after(() => stopStack({ envoy, keyway, nodes, dir }));

    test(`(a) each of the ${VECTOR_KEYS.length} vector keys with S = ${SHARDS} and ${RANDOM_KEYS.length} random keys, sent as x-cache-key only, reach their shard's primary`, async () => {
      assert.equal(VECTOR_KEYS.length, 26);
      await checkKeys(VECTOR_KEYS);
      await checkKeys(RANDOM_KEYS.map((key) => ({ key, shard: keyToShard(key, SHARDS) })));
      // Both shards of the {tag} pair are one shard, on one node.
      const [f, g] = [await byKey('{user1000}.following'), await byKey('{user1000}.followers')];
      assert.equal(f.shardSeen, g.shardSeen);
    });

    test('(b) a valid x-cache-shard wins over the key and reaches the node untouched', async () => {
      const key = 'user:1000';
      const keyShard = keyToShard(key, SHARDS);
      const other = Array.from({ length: SHARDS }, (_, s) => s).find((s) => primaryOf(s) !== primaryOf(keyShard))!;
      for (const shard of [other, 0, SHARDS - 1]) {
        const a = await send({ 'x-cache-shard': String(shard), 'x-cache-key': key });
        assert.deepEqual([a.status, a.servedBy, a.shardSeen], [200, primaryOf(shard), String(shard)], `x-cache-shard ${shard} with key ${key}`);
      }
    });

    test('(c) missingHeader any: bad x-cache-shard values get 400 naming the rule; no header at all reaches some node', async () => {
      await checkBadValues();
      const none = await send({});
      assert.equal(none.status, 200);
      assert.ok(NODE_IDS.includes(none.servedBy!), none.body);
      assert.equal(none.shardSeen, null);
    });

    test('(d) missingHeader reject: the same 400s; neither header gets the route 400; the key still routes', async () => {
      writeTopology('reject');
      const missing = await eventually('the reject route (400 without any header)', () => send({}), { accept: (a) => a.status === 400, timeoutMs: 15_000 });
      assert.equal(missing.body, `missing x-cache-shard and x-cache-key headers: x-cache-shard must be an integer in [0, ${SHARDS}), or send the key in x-cache-key\n`);
      await checkBadValues();
      await checkKeys(VECTOR_KEYS);
      const a = await send({ 'x-cache-shard': '5' });
      assert.deepEqual([a.status, a.servedBy], [200, primaryOf(5)]);
    });

    test('(e) a request with x-cache-shard does not run the Lua filter; a key-only request does', async (t) => {
      const executions = async (): Promise<number | undefined> => {
        const hit = [...(await envoy.stats('lua.executions'))].find(([name]) => name.endsWith('.lua.executions'));
        return hit === undefined ? undefined : Number(hit[1]);
      };
      const before = await executions();
      if (before === undefined) {
        t.skip(`Envoy ${version} does not count Lua executions`);
        return;
      }
      for (const shard of [0, 5, SHARDS - 1]) {
        const a = await send({ 'x-cache-shard': String(shard), 'x-cache-key': 'user:1000' });
        assert.deepEqual([a.status, a.servedBy], [200, primaryOf(shard)]);
      }
      for (const bad of ['07', String(SHARDS)]) assert.equal((await send({ 'x-cache-shard': bad })).status, 400);
      assert.equal(await executions(), before, 'no Lua execution for requests that carry a shard header');
      await checkKeys(VECTOR_KEYS.slice(0, 3));
      assert.equal(await executions(), before + 3, 'one Lua execution per key-only request');
    });
  });
}
