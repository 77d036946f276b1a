// The data-plane benchmark's variant choice and round order (benchmarks/dataplane-cost/order.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chooseVariants, rotated } from '../../benchmarks/dataplane-cost/order.js';

test('over n rounds every variant runs once in every position, whatever n (3 and 6 included)', () => {
  for (let n = 1; n <= 9; n++) {
    const xs = Array.from({ length: n }, (_, i) => `v${i}`);
    for (let pos = 0; pos < n; pos++) {
      const seen = new Set(Array.from({ length: n }, (_, round) => rotated(xs, round)[pos]));
      assert.equal(seen.size, n, `n = ${n}: position ${pos} holds ${[...seen].join(',')}`);
    }
    for (let round = 0; round < n; round++) assert.deepEqual([...rotated(xs, round)].sort(), xs, 'a round runs each variant once');
  }
});

test('with three variants the first one differs from round to round', () => {
  const firsts = [0, 1, 2].map((round) => rotated(['round-robin', 'ring-hash', 'keyway'], round)[0]);
  assert.deepEqual(firsts, ['round-robin', 'ring-hash', 'keyway']);
});

const ALL = ['round-robin', 'ring-hash', 'keyway', 'keyway-no-lua'].map((name) => ({ name }));

test('--variants keeps the variants named, in their defined order, with ring-hash added', () => {
  assert.deepEqual(chooseVariants('keyway-no-lua,keyway', ALL, 'ring-hash').map((v) => v.name), ['ring-hash', 'keyway', 'keyway-no-lua']);
  assert.deepEqual(chooseVariants(undefined, ALL, 'ring-hash').map((v) => v.name), ALL.map((v) => v.name));
});

test('--variants refuses a name it does not know, naming it, instead of running without it', () => {
  assert.throws(() => chooseVariants('keyway,keyway-alias-hc,kyway', ALL, 'ring-hash'), (err: Error) => {
    assert.match(err.message, /unknown "keyway-alias-hc", "kyway"/);
    assert.match(err.message, /known: round-robin, ring-hash, keyway, keyway-no-lua/);
    return true;
  });
});
