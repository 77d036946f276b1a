// The grpc-scale benchmark's run order (benchmarks/grpc-scale/plan.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runPlan } from '../../benchmarks/grpc-scale/plan.js';

test('the stock client and the picker run side by side per S, alternating which goes first', () => {
  assert.deepEqual(runPlan([256, 16384], 16384), [
    ['stock', 256],
    ['picker', 256],
    ['picker', 16384],
    ['stock', 16384],
  ]);
});

test('the picker also runs at --shards where no stock client does, and each (mode, S) runs once', () => {
  const plan = runPlan([256, 1024, 16384], 4096);
  assert.deepEqual(plan.filter(([m]) => m === 'picker').map(([, s]) => s), [256, 1024, 4096, 16384]);
  assert.deepEqual(plan.filter(([m]) => m === 'stock').map(([, s]) => s), [256, 1024, 16384]);
  assert.equal(new Set(plan.map(([m, s]) => `${m} ${s}`)).size, plan.length);
  // No mode is always first: among the S both run at, each leads at least once.
  const leaders = [256, 1024, 16384].map((s) => plan.find(([, x]) => x === s)![0]);
  assert.ok(leaders.includes('stock') && leaders.includes('picker'), leaders.join(','));
});

test('a --shards between the stock S does not break the alternation', () => {
  // The picker-only S counted in the alternation: stock went first at both 256 and 16384.
  const plan = runPlan([256, 16384], 1024);
  const leaders = [256, 16384].map((s) => plan.find(([, x]) => x === s)![0]);
  assert.deepEqual(leaders, ['stock', 'picker']);
});
