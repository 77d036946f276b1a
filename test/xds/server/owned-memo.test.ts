/** The bounded memo streams share responses and selections through (src/xds/server/owned-memo.ts). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { MEMO_ENTRY_OVERHEAD_BYTES, OwnedMemo } from '../../../src/xds/server/owned-memo.js';

const entry = (bytes: number): number => bytes + MEMO_ENTRY_OVERHEAD_BYTES;

test('past its bound the memo drops the least recently used values, across owners', () => {
  const memo = new OwnedMemo<string>(entry(100) * 3);
  const a = {};
  const b = {};
  memo.set(a, 'k1', 'a1', 100);
  memo.set(b, 'k1', 'b1', 100);
  memo.set(a, 'k2', 'a2', 100);
  assert.equal(memo.get(a, 'k1'), 'a1', 'now the most recently used');
  memo.set(b, 'k2', 'b2', 100);
  assert.equal(memo.get(b, 'k1'), undefined, 'the least recently used went');
  assert.deepEqual([memo.get(a, 'k1'), memo.get(a, 'k2'), memo.get(b, 'k2')], ['a1', 'a2', 'b2']);
  assert.equal(memo.size, 3);
  assert.equal(memo.bytes, entry(100) * 3);
});

test('a value replaced under its key counts once; one bigger than the bound is not kept', () => {
  const memo = new OwnedMemo<string>(entry(100) * 2);
  const o = {};
  memo.set(o, 'k', 'v1', 100);
  memo.set(o, 'k', 'v2', 100);
  assert.equal(memo.get(o, 'k'), 'v2');
  assert.equal(memo.size, 1);
  memo.set(o, 'huge', 'x', entry(100) * 2);
  assert.equal(memo.get(o, 'huge'), undefined);
  assert.equal(memo.get(o, 'k'), 'v2', 'nothing was evicted for it');
  memo.set(o, 'k', 'v3', entry(100) * 2);
  assert.equal(memo.get(o, 'k'), undefined, 'a replacement too big drops the old value too');
  assert.equal(memo.bytes, 0);
});

test('the values of an owner that is collected leave the memo', { timeout: 10_000 }, async () => {
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  const memo = new OwnedMemo<string>(1 << 20);
  const kept = {};
  memo.set(kept, 'k', 'v', 10);
  (() => {
    for (let i = 0; i < 100; i++) memo.set({}, `k${i}`, 'gone', 10);
  })();
  assert.equal(memo.size, 101);
  for (let i = 0; i < 50 && memo.size > 1; i++) {
    gc();
    await new Promise((r) => setTimeout(r, 10));
  }
  assert.equal(memo.size, 1);
  assert.equal(memo.get(kept, 'k'), 'v');
});
