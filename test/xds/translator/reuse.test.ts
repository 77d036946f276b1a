// What one translation keeps for the next (src/xds/translator/reuse.ts): values by a key that
// determines them, the last translation's only.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PreviousByShard, PreviousTranslation } from '../../../src/xds/translator/reuse.js';

test('a value made by the previous translation is handed back; one it did not ask for is forgotten', () => {
  const memo = new PreviousTranslation<{ key: string }>();
  let made = 0;
  const make = (key: string) => () => ({ key, n: ++made });
  const a1 = memo.get('a', make('a'));
  const b1 = memo.get('b', make('b'));
  assert.equal(memo.get('a', make('a')), a1, 'within one translation too');
  memo.done();
  assert.equal(memo.get('a', make('a')), a1, 'kept from the previous translation');
  memo.done(); // this translation did not ask for b
  assert.notEqual(memo.get('b', make('b')), b1, 'b was forgotten: made anew');
  assert.equal(made, 3);
});

test('per shard: the previous value comes back only for the same key', () => {
  const memo = new PreviousByShard<string, { v: string }>();
  const a = memo.get(0, 'x', () => ({ v: 'x' }));
  const b = memo.get(1, 'y', () => ({ v: 'y' }));
  memo.done();
  assert.equal(memo.get(0, 'x', () => ({ v: 'x' })), a, 'same shard, same key: kept');
  assert.notEqual(memo.get(1, 'z', () => ({ v: 'z' })), b, 'same shard, another key: made anew');
  memo.done();
  assert.equal(memo.get(0, 'x', () => ({ v: 'x' })), a);
});
