/**
 * `--warm-limit` / `warmLimit` above what `GET /v1/warm` accepts (MAX_WARM_LIMIT): every peer
 * refused the warm-up's request with 400, so every shard the node gained was reported warm with
 * nothing copied. The CLI refuses such a flag; the server asks for at most MAX_WARM_LIMIT.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Assignment, OwnershipAgentLike, OwnershipAgentOptions } from '../../examples/cache-node/agent-ownership.js';
import { startCacheNodeServer } from '../../examples/cache-node/server.js';
import { BadWarmRequest, MAX_WARM_LIMIT, parseWarmQuery } from '../../examples/cache-node/warm.js';
import { keyToShard } from '../../src/sharding/key-to-shard.js';
import { eventually } from '../support/eventually.js';

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
  const peer = http.createServer((req, res) => {
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
  await new Promise<void>((resolve) => peer.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise<void>((resolve) => peer.close(() => resolve())));
  const port = (peer.address() as AddressInfo).port;

  let agentOpts: OwnershipAgentOptions | undefined;
  const assignments = new Map<number, Assignment>();
  const standIn = (opts: OwnershipAgentOptions): OwnershipAgentLike => {
    agentOpts = opts;
    return {
      start: () => {},
      close: () => Promise.resolve(),
      assignments: () => assignments,
      shardCount: () => S,
      connected: () => true,
      waitForHandoff: () => Promise.resolve(true),
    };
  };
  const node = await startCacheNodeServer({
    id: 'dst',
    keywayXds: ['127.0.0.1:1'],
    createAgent: standIn,
    l1Capacity: 2 * MAX_WARM_LIMIT,
    warmLimit: 2 * MAX_WARM_LIMIT,
    l3DelayMs: 0,
  });
  t.after(() => node.close());
  const warming: Assignment = { shard: 1, shardCount: S, role: 'primary', phase: 'warming', servingOwners: [{ id: 'src', address: '127.0.0.1', port }], untilUnixMs: Date.now() + 10_000, reader: true };
  assignments.set(1, warming);
  agentOpts!.onChange?.(assignments);
  await agentOpts!.warm!(warming, new AbortController().signal);
  assert.deepEqual(asked, [String(MAX_WARM_LIMIT)]);
  await eventually('the peer\'s entries are in L1', () => keys.every((k) => node.cache.l1.has(k)));
});
