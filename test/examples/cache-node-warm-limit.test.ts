/**
 * `--warm-limit` / `warmLimit` above what `GET /v1/warm` accepts (MAX_WARM_LIMIT): every peer
 * refused the warm-up's request with 400, so every shard the node gained was reported warm with
 * nothing copied. The CLI refuses such a flag; the server asks for at most MAX_WARM_LIMIT.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Assignment } from '../../examples/cache-node/agent-ownership.js';
import { startCacheNodeServer } from '../../examples/cache-node/server.js';
import { BadWarmRequest, MAX_WARM_LIMIT, parseWarmQuery } from '../../examples/cache-node/warm.js';
import { keyToShard } from '../../src/sharding/key-to-shard.js';
import { eventually } from '../support/eventually.js';
import { standInAgent, startPeer } from './cache-node-support.js';

const S = 4;
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

test('the CLI refuses a --warm-limit above what /v1/warm serves, naming the flag and the range', () => {
  const run = spawnSync(process.execPath, ['--import', 'tsx', 'examples/cache-node/main.ts', '--id', 'n0', '--warm-limit', String(MAX_WARM_LIMIT + 1)], {
    cwd: ROOT,
    encoding: 'utf8',
    timeout: 30_000,
  });
  assert.equal(run.status, 2, run.stderr);
  assert.match(run.stderr, new RegExp(`--warm-limit must be an integer in 1\\.\\.${MAX_WARM_LIMIT}, got "${MAX_WARM_LIMIT + 1}"`));
});

test('a node with warmLimit and L1 above MAX_WARM_LIMIT asks its peers for at most MAX_WARM_LIMIT entries, and copies them', async (t) => {
  const asked: string[] = [];
  const keys = Array.from({ length: 400 }, (_, i) => `k:${i}`).filter((k) => keyToShard(k, S) === 1);
  // A peer that answers as the example node does: 400 for a limit past MAX_WARM_LIMIT.
  const port = await startPeer(t, (req, res) => {
    const params = new URL(req.url ?? '/', 'http://peer').searchParams;
    asked.push(params.get('limit') ?? '');
    try {
      const q = parseWarmQuery(params, S);
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ node: 'src', shard: q.shard, entries: keys.map((k) => [k, `v:${k}`, 0]) }));
    } catch (err) {
      if (!(err instanceof BadWarmRequest)) throw err;
      res.writeHead(400, { 'content-type': 'application/json' }).end(JSON.stringify({ error: err.message }));
    }
  });
  const agent = standInAgent(S);
  const assignments = agent.assignments;
  const node = await startCacheNodeServer({
    id: 'dst',
    keywayXds: ['127.0.0.1:1'],
    createAgent: agent.create,
    l1Capacity: 2 * MAX_WARM_LIMIT,
    warmLimit: 2 * MAX_WARM_LIMIT,
    l3DelayMs: 0,
  });
  t.after(() => node.close());
  const warming: Assignment = { shard: 1, shardCount: S, role: 'primary', phase: 'warming', servingOwners: [{ id: 'src', address: '127.0.0.1', port }], untilUnixMs: Date.now() + 10_000, reader: true };
  assignments.set(1, warming);
  agent.options().onChange?.(assignments);
  await agent.options().warm!(warming, new AbortController().signal);
  assert.deepEqual(asked, [String(MAX_WARM_LIMIT)]);
  await eventually('the peer\'s entries are in L1', () => keys.every((k) => node.cache.l1.has(k)));
});
