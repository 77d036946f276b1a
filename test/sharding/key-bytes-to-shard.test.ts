import { test } from 'node:test';
import assert from 'node:assert/strict';
import { keyBytesToShard, keyToShard } from '../../src/sharding/index.js';

test('keyBytesToShard refuses the shard counts keyToShard refuses (0 gave NaN, 2.5 a shard that is not one)', () => {
  const key = new TextEncoder().encode('user:42');
  for (const bad of [0, -3, 2.5, Number.NaN, Infinity, 2 ** 53]) {
    assert.throws(() => keyBytesToShard(key, bad), (e: Error & { code?: string }) => e.code === 'BAD_ARGUMENT' && /shard count must be an integer >= 1/.test(e.message), String(bad));
  }
  // And agrees with keyToShard on UTF-8 bytes, tag rule included.
  for (const k of ['user:42', '{user:42}:cart', 'é{}x']) assert.equal(keyBytesToShard(new TextEncoder().encode(k), 1024), keyToShard(k, 1024), k);
});
