// The warm ledger's budgets (src/sharding/warm-ledger.ts): a node is held to the unlisted budget
// only while the map does not list it, and a report that stores nothing leaves no entry behind, so
// a flood of invented node ids cannot make keyway's memory grow for good.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MAX_UNLISTED_WARM_REPORTS, WarmLedger } from '../../src/sharding/warm-ledger.js';

test('a node the map starts listing leaves the unlisted budget: its reports are held though invented ids filled that budget', () => {
  const l = new WarmLedger();
  assert.equal(l.record('joining', [1], 1, false), 1);
  const flood = Array.from({ length: MAX_UNLISTED_WARM_REPORTS }, (_, s) => s);
  assert.equal(l.record('stranger', flood, 1, false), MAX_UNLISTED_WARM_REPORTS - 1);
  assert.equal(l.record('joining', [2, 3], 2, true), 2, 'a listed node is not held to the unlisted budget');
  assert.equal(l.take('joining', 3, 0), true);
  assert.equal(l.record('gpu-a1', [5], 3, true), 1);
  assert.equal(l.record('gpu-a1', [6], 3, false), 0, 'dropped: the unlisted budget is full');
  l.forget('gpu-a1', 5);
  l.prune(3);
  assert.equal(l.size, 0);
  assert.equal(l.record('other', flood, 4, false), MAX_UNLISTED_WARM_REPORTS, 'the budget is whole again');
});

test('reports that hold nothing (no shards, or every shard past the budget) leave no entry behind, however many node ids send them', () => {
  const l = new WarmLedger();
  for (let i = 0; i < 10_000; i++) assert.equal(l.record(`empty-${i}`, [], 1, false), 0);
  assert.equal(l.nodes, 0, 'no entry for a report of no shards');
  l.record('stranger', Array.from({ length: MAX_UNLISTED_WARM_REPORTS }, (_, s) => s), 1, false);
  for (let i = 0; i < 10_000; i++) assert.equal(l.record(`late-${i}`, [1], 1, false), 0);
  assert.equal(l.nodes, 1, 'only the node whose reports are held');
  l.prune(2);
  assert.equal(l.nodes, 0, 'pruning empties the ledger');
});
