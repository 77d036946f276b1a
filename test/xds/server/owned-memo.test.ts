/** The bounded memo streams share responses and selections through (src/xds/server/owned-memo.ts). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { MEMO_ENTRY_OVERHEAD_BYTES, OwnedMemo } from '../../../src/xds/server/owned-memo.js';

const entry = (bytes: number): number => bytes + MEMO_ENTRY_OVERHEAD_BYTES;

test('each owner\'s latest value is kept outside the bound; the others go least recently used first, across owners', () => {
  const memo = new OwnedMemo<string>(entry(100) * 3);
  const a = {};
  const b = {};
  memo.set(a, 'k1', 'a1', 100);
  memo.set(a, 'k2', 'a2', 100);
  memo.set(a, 'k3', 'a3', 100); // a's latest; a1 and a2 under the bound
  memo.set(b, 'k1', 'b1', 100);
  memo.set(b, 'k2', 'b2', 100); // b's latest; b1 under the bound
  assert.equal(memo.size, 3);
  assert.equal(memo.get(a, 'k1'), 'a1', 'now the most recently used');
  memo.set(b, 'k3', 'b3', 100); // b2 joins the bound: the least recently used, a2, goes
  assert.equal(memo.get(a, 'k2'), undefined);
  assert.deepEqual([memo.get(a, 'k1'), memo.get(a, 'k3'), memo.get(b, 'k1'), memo.get(b, 'k2'), memo.get(b, 'k3')], ['a1', 'a3', 'b1', 'b2', 'b3']);
  assert.equal(memo.size, 3);
  assert.equal(memo.bytes, entry(100) * 3);
});

test('a client changing its subscription for ever stays within the bound, and never pushes out another snapshot\'s latest', () => {
  const memo = new OwnedMemo<string>(entry(100) * 10);
  const shared = {};
  memo.set(shared, 'what every proxy asks', 'v', 100);
  const churned = {};
  for (let i = 0; i < 1000; i++) memo.set(churned, `names-${i}`, `r${i}`, 100);
  assert.ok(memo.size <= 10, `${memo.size} values under the bound`);
  assert.ok(memo.bytes <= entry(100) * 10);
  assert.equal(memo.get(churned, 'names-999'), 'r999', 'its latest');
  assert.equal(memo.get(shared, 'what every proxy asks'), 'v', 'the shared value was kept: no rebuild per stream');
});

test('a value replaced under its key counts once; a latest bigger than the bound is kept until another replaces it', () => {
  const memo = new OwnedMemo<string>(entry(100) * 2);
  const o = {};
  memo.set(o, 'k', 'v1', 100);
  memo.set(o, 'k', 'v2', 100);
  assert.equal(memo.get(o, 'k'), 'v2');
  assert.equal(memo.size, 0, 'the latest is not under the bound');
  memo.set(o, 'huge', 'x', entry(100) * 2);
  assert.equal(memo.get(o, 'huge'), 'x', 'the latest, whatever its size');
  assert.equal(memo.get(o, 'k'), 'v2', 'k joined the bound');
  memo.set(o, 'k2', 'y', 10);
  assert.equal(memo.get(o, 'huge'), undefined, 'too big for the bound once it is no longer the latest');
  assert.equal(memo.bytes, entry(100));
});

test('the values of an owner that is collected leave the memo', { timeout: 10_000 }, async () => {
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  const memo = new OwnedMemo<string>(1 << 20);
  const kept = {};
  memo.set(kept, 'k', 'v', 10);
  memo.set(kept, 'latest', 'w', 10);
  (() => {
    for (let i = 0; i < 100; i++) {
      const owner = {};
      memo.set(owner, `k${i}`, 'gone', 10);
      memo.set(owner, `latest${i}`, 'gone too', 10);
    }
  })();
  assert.equal(memo.size, 101);
  for (let i = 0; i < 50 && memo.size > 1; i++) {
    gc();
    await new Promise((r) => setTimeout(r, 10));
  }
  assert.equal(memo.size, 1);
  assert.deepEqual([memo.get(kept, 'k'), memo.get(kept, 'latest')], ['v', 'w']);
});
