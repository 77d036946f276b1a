// WarmLedger.forgetNode: a node's ownership stream ended or reopened, so every report it sent
// before is dropped (docs/ownership.md "Two-phase moves"), with the counts and the unlisted budget
// kept right, and another node's reports untouched.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { WarmLedger } from '../../src/sharding/warm-ledger.js';

test('forgetNode drops every report of one node and only those', () => {
  const ledger = new WarmLedger();
  ledger.record('e', [1, 2, 3], 100);
  ledger.record('f', [1], 100);
  ledger.record('stranger', [4, 5], 100, false);
  assert.equal(ledger.forgetNode('e'), 3);
  assert.equal(ledger.forgetNode('e'), 0, 'nothing left to forget');
  assert.equal(ledger.size, 3);
  assert.equal(ledger.nodes, 2);
  assert.ok(!ledger.has('e', 1, 0));
  assert.ok(ledger.has('f', 1, 0));
  assert.equal(ledger.forgetNode('stranger'), 2);
  assert.equal(ledger.size, 1);
  assert.equal(ledger.nodes, 1);
  // The node reports again on its new stream: recorded as new.
  assert.equal(ledger.record('e', [1], 200), 1);
  assert.ok(ledger.has('e', 1, 150));
});
