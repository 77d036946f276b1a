import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ownerLabel, ownershipFromShardMap } from '../../../examples/cache-node/ownership.js';

const BODY = {
  version: 'abc',
  shardCount: 4,
  replicas: 2,
  shards: [
    { shard: 0, owners: ['n1', 'n2'] },
    { shard: 1, owners: ['n2', 'n1'] },
    { shard: 2, owners: ['n2', 'n3'] },
    { shard: 3, owners: ['n1', 'n3'] },
  ],
  endpoints: [
    { id: 'n1', locality: { region: 'r', zone: 'z1', subzone: 'nvl-1' } },
    { id: 'n2', locality: { region: 'r', zone: 'z2', subzone: 'nvl-2' } },
  ],
};

test('ownership: primary and replica shards of this node, and its locality, from /v1/shardmap', () => {
  const n1 = ownershipFromShardMap(BODY, 'n1');
  assert.equal(n1.version, 'abc');
  assert.equal(n1.shardCount, 4);
  assert.deepEqual([...n1.primary].sort(), [0, 3]);
  assert.deepEqual([...n1.replica], [1]);
  assert.deepEqual(n1.locality, { region: 'r', zone: 'z1', subzone: 'nvl-1' });
  const n3 = ownershipFromShardMap(BODY, 'n3');
  assert.deepEqual([...n3.primary], []);
  assert.deepEqual([...n3.replica].sort(), [2, 3]);
  assert.equal(n3.locality, undefined, 'keyway does not list n3 among endpoints');
  const stranger = ownershipFromShardMap(BODY, 'nobody');
  assert.equal(stranger.primary.size + stranger.replica.size, 0);
});

test('ownership: a replica among the first `readers` owners of a spread shard reads it; the replicas after them only back up', () => {
  const body = { ...BODY, shards: [{ shard: 0, owners: ['n1', 'n2', 'n3'], readers: 2 }, { shard: 1, owners: ['n2', 'n3'] }] };
  assert.deepEqual([...ownershipFromShardMap(body, 'n2').readingReplica], [0]);
  const n3 = ownershipFromShardMap(body, 'n3');
  assert.deepEqual([...n3.replica].sort(), [0, 1]);
  assert.deepEqual([...n3.readingReplica], [], 'the third owner of 0 and the replica of 1 only back up');
  assert.deepEqual([...ownershipFromShardMap(body, 'n1').readingReplica], [], 'a primary is not a replica');
});

test('ownerLabel: true for primary and replica shards, false otherwise, unknown without a map or a shard', () => {
  const n1 = ownershipFromShardMap(BODY, 'n1');
  assert.equal(ownerLabel(n1, 0), 'true');
  assert.equal(ownerLabel(n1, 1), 'true');
  assert.equal(ownerLabel(n1, 2), 'false');
  assert.equal(ownerLabel(undefined, 2), 'unknown');
  assert.equal(ownerLabel(n1, undefined), 'unknown');
});

test('a body that breaks the contract is refused with the field named', () => {
  assert.throws(() => ownershipFromShardMap(null, 'n1'), /not a JSON object/);
  assert.throws(() => ownershipFromShardMap({ ...BODY, version: 3 }, 'n1'), /"version"/);
  assert.throws(() => ownershipFromShardMap({ ...BODY, shardCount: 0 }, 'n1'), /"shardCount"/);
  assert.throws(() => ownershipFromShardMap({ ...BODY, shards: {} }, 'n1'), /"shards"/);
  assert.throws(() => ownershipFromShardMap({ ...BODY, shards: [{ shard: 0 }] }, 'n1'), /shards\[0\]/);
});
