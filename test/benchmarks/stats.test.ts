// The medians and quantiles the benchmarks' tables are built from (benchmarks/hitrate/).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { median } from '../../benchmarks/hitrate/stats.js';
import { quantile } from '../../benchmarks/hitrate/hot-stats.js';

test('median: the middle value of an odd count, the mean of the two middle values of an even one, unsorted input', () => {
  assert.equal(median([3, 1, 2]), 2);
  assert.equal(median([4, 1, 3, 2]), 2.5);
  assert.equal(median([1.1, 0.9]), 1);
  assert.equal(median([7]), 7);
});

test('quantile: nearest rank', () => {
  const xs = Array.from({ length: 100 }, (_, i) => 100 - i); // 100..1, unsorted
  assert.equal(quantile(xs, 0.5), 50);
  assert.equal(quantile(xs, 0.99), 99);
  assert.equal(quantile(xs, 1), 100);
  assert.equal(quantile(xs, 0), 1);
});
