// The pick vectors both ShardMapClients check (testdata/client/pick.json; the Python client's
// clients/python/tests/test_shard_map_client_unit.py reads the same file): for one /v1/shardmap body, the owner
// pickForShard draws for each random number, and each shard's readers. They pin the weight rule
// (keyway's load-balancing weight: x 100 rounded half up, at least 1, clamped) and the draw.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ShardMapClient } from '../../src/client/index.js';

interface PickVectors {
  readonly shardmap: unknown;
  readonly readers: readonly number[];
  readonly cases: readonly { readonly shard: number; readonly random: number; readonly pick: string | null }[];
}

const vectors = JSON.parse(readFileSync(new URL('../../testdata/client/pick.json', import.meta.url), 'utf8')) as PickVectors;

test('ShardMapClient.pickForShard and readersOfShard match the shared pick vectors', async (t) => {
  const server = createServer((_req, res) => void res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(vectors.shardmap)));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => {
    server.closeAllConnections();
    return new Promise<void>((r) => server.close(() => r()));
  });
  const client = new ShardMapClient({ baseUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`, pollIntervalMs: 0 });
  await client.refresh();
  assert.ok(vectors.cases.length > 100);
  assert.deepEqual(vectors.readers.map((_, s) => client.readersOfShard(s)), vectors.readers);
  for (const v of vectors.cases) {
    assert.equal(client.pickForShard(v.shard, () => v.random)?.id ?? null, v.pick, `shard ${v.shard}, random ${v.random}`);
  }
});
