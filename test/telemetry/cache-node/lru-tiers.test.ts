import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LruCache } from '../../../examples/cache-node/lru.js';
import { storeValue, TieredCache } from '../../../examples/cache-node/tiers.js';

test('LRU: bounded, evicts the least recently used, and a read refreshes recency', () => {
  const lru = new LruCache<string, number>(3);
  lru.set('a', 1);
  lru.set('b', 2);
  lru.set('c', 3);
  assert.equal(lru.get('a'), 1); // a is now the most recent
  lru.set('d', 4); // evicts b, the least recently used
  assert.deepEqual(lru.keys(), ['c', 'a', 'd']);
  assert.equal(lru.get('b'), undefined);
  assert.equal(lru.size, 3);
  assert.equal(lru.evictions, 1);
  lru.set('c', 30); // an update refreshes too
  lru.set('e', 5); // evicts a
  assert.deepEqual(lru.keys(), ['d', 'c', 'e']);
  assert.equal(lru.get('c'), 30);
  assert.equal(lru.has('a'), false);
  assert.equal(lru.delete('d'), true);
  assert.equal(lru.size, 2);
});

test('LRU insertByIdle: files entries among its own by last use, keeps what it holds, evicts the least recent', () => {
  let now = 0;
  const lru = new LruCache<string, string>(5, () => now);
  for (const k of ['a', 'b', 'c']) {
    now += 10;
    lru.set(k, k); // a at 10, b at 20, c at 30
  }
  now = 40;
  // x last used at 15 (between a and b), y at 35 (between c and now); c is held: keeps its own value.
  assert.equal(lru.insertByIdle([['x', 'X', 25], ['y', 'Y', 5], ['c', 'C', 0]]), 2);
  assert.deepEqual(lru.keys(), ['a', 'x', 'b', 'c', 'y']);
  assert.equal(lru.get('c'), 'c');
  assert.deepEqual([...lru.newestFirst()].map(([k, , idle]) => `${k}:${idle}`), ['c:0', 'y:5', 'b:20', 'x:25', 'a:30']);
  // Full: an entry older than all of its own goes first, so it is not kept; a recent one pushes out the least recent.
  assert.equal(lru.insertByIdle([['old', 'O', 1_000]]), 0);
  assert.equal(lru.insertByIdle([['new', 'N', 1]]), 1);
  assert.deepEqual(lru.keys(), ['x', 'b', 'y', 'new', 'c']);
  assert.equal(lru.evictions, 2);
  // Equal ages (a peer's answer without ages): the given order, the last one most recent.
  assert.equal(lru.insertByIdle([['p', 'P', 0], ['q', 'Q', 0]]), 2);
  assert.deepEqual(lru.keys().slice(-2), ['p', 'q']);
  assert.equal(new LruCache<string, string>(0).insertByIdle([['k', 'v', 0]]), 0);
});

test('LRU: capacity 0 caches nothing; a capacity that is not a non-negative integer is refused', () => {
  const none = new LruCache<string, string>(0);
  none.set('k', 'v');
  assert.equal(none.size, 0);
  assert.equal(none.get('k'), undefined);
  assert.throws(() => new LruCache(-1), RangeError);
  assert.throws(() => new LruCache(1.5), RangeError);
});

test('LRU: under a long random workload it never exceeds capacity and always holds the most recent keys', () => {
  const cap = 16;
  const lru = new LruCache<number, number>(cap);
  const recent: number[] = [];
  let seed = 7;
  for (let i = 0; i < 5_000; i++) {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    const k = seed % 64;
    if (seed % 3 === 0) {
      if (lru.get(k) !== undefined) touch(recent, k);
    } else {
      lru.set(k, i);
      touch(recent, k);
    }
    while (recent.length > cap) recent.shift();
    assert.ok(lru.size <= cap);
  }
  assert.deepEqual(lru.keys(), recent);
});

function touch(list: number[], k: number): void {
  const at = list.indexOf(k);
  if (at >= 0) list.splice(at, 1);
  list.push(k);
}

test('tiers: a cold key comes from L3 and fills L2 and L1; then L1 hits; an L1 eviction falls back to L2', async () => {
  const cache = new TieredCache({ l1Capacity: 2, l2Capacity: 10, l3DelayMs: 0 });
  const cold = await cache.get('user:1', true);
  assert.equal(cold.tier, 'l3');
  assert.deepEqual(cold.lookups, [
    { tier: 'l1', result: 'miss' },
    { tier: 'l2', result: 'miss' },
    { tier: 'l3', result: 'hit' },
  ]);
  assert.equal(cold.value, storeValue('user:1'));
  const warm = await cache.get('user:1', true);
  assert.deepEqual([warm.tier, warm.lookups], ['l1', [{ tier: 'l1', result: 'hit' }]]);
  await cache.get('user:2', true);
  await cache.get('user:3', true); // L1 holds 2: user:1 is evicted from L1, still in L2
  const fallback = await cache.get('user:1', true);
  assert.equal(fallback.tier, 'l2');
  assert.deepEqual(fallback.lookups, [
    { tier: 'l1', result: 'miss' },
    { tier: 'l2', result: 'hit' },
  ]);
  assert.equal(fallback.value, cold.value);
});

test('tiers: a key not admitted to L1 (a shard this node does not own) never displaces L1', async () => {
  const cache = new TieredCache({ l1Capacity: 1, l2Capacity: 10, l3DelayMs: 0 });
  await cache.get('owned', true);
  await cache.get('foreign', false);
  assert.deepEqual(cache.l1.keys(), ['owned']);
  assert.equal((await cache.get('foreign', false)).tier, 'l2');
  assert.equal((await cache.get('owned', true)).tier, 'l1');
});

test('the simulated store is deterministic and distinguishes keys', () => {
  assert.equal(storeValue('k'), storeValue('k'));
  assert.notEqual(storeValue('k'), storeValue('k2'));
  assert.match(storeValue('k'), /^v1:[0-9a-f]{32}$/);
});
