// The package's public library surface (package.json "exports"): `keyway` and `keyway/sharding`
// give the hash contract, `keyway/server` the embeddable runner, `keyway/agent` and `keyway/grpc` what runs beside a cache or in an application. Imported by the package's own
// name from the compiled dist/ (built by `npm ci` through `prepare`), as a user would.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';

interface KeyVector {
  readonly key: string;
  readonly shards: number;
  readonly shard: number;
}
const vectors = (JSON.parse(readFileSync('testdata/vectors/key-to-shard.json', 'utf8')) as { vectors: KeyVector[] }).vectors;

test('keyway and keyway/sharding export hash contract 1, matching every key-to-shard vector', async () => {
  for (const name of ['keyway', 'keyway/sharding']) {
    const lib = (await import(name)) as { keyToShard: (key: string, shards: number) => number };
    assert.equal(typeof lib.keyToShard, 'function', `${name} exports keyToShard`);
    for (const v of vectors) assert.equal(lib.keyToShard(v.key, v.shards), v.shard, `${name}: ${JSON.stringify(v.key)} mod ${v.shards}`);
  }
});

test('keyway/server exports the runner; internal modules are not reachable', async () => {
  const server = (await import('keyway/server')) as Record<string, unknown>;
  assert.equal(typeof server.startServer, 'function');
  assert.equal(typeof server.serveStages, 'function');
  const internal: string = 'keyway/dist/src/xds/proto.js';
  await assert.rejects(import(internal), (err: NodeJS.ErrnoException) => err.code === 'ERR_PACKAGE_PATH_NOT_EXPORTED');
});

test('keyway/agent exports the ownership agent (docs/ownership.md)', async () => {
  const agent = (await import('keyway/agent')) as Record<string, unknown>;
  assert.equal(typeof agent.OwnershipAgent, 'function');
  assert.equal(typeof agent.DEFAULT_AGENT_TIMING, 'object');
});

test('keyway/grpc exports the shard picker for grpc-js (docs/xds.md "The shard picker")', async () => {
  const grpc = (await import('keyway/grpc')) as {
    registerShardPicker: () => void;
    withShardPicker: (b: object) => { node: { id: string; locality: object; metadata: Record<string, unknown> } };
    SHARD_PICKER_POLICY: string;
  };
  grpc.registerShardPicker();
  const { experimental } = await import('@grpc/grpc-js');
  assert.ok(experimental.isLoadBalancerNameRegistered(grpc.SHARD_PICKER_POLICY), 'registered in the @grpc/grpc-js an application resolves');
  const b = grpc.withShardPicker({ node: { id: 'n', metadata: { team: 'a' } } });
  assert.deepEqual(b.node, { id: 'n', locality: {}, metadata: { team: 'a', 'keyway.shard_picker': 'v1' } });
});
