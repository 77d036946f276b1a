// WarmLedger's checkpoint: a planning step that is discarded puts back the reports it took or
// forgot, so the step in force still flips on them (docs/ownership.md "Replicas agree").
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { WarmLedger } from '../../src/sharding/warm-ledger.js';

test('rollback puts back what a step took or forgot; commit keeps the step', () => {
  const ledger = new WarmLedger();
  ledger.record('e', [1, 2, 3], 100);
  ledger.record('x', [7], 100, false);
  ledger.checkpoint();
  assert.equal(ledger.take('e', 1, 0), true);
  ledger.forget('e', 2);
  ledger.forget('x', 7);
  assert.equal(ledger.size, 1);
  ledger.rollback();
  assert.equal(ledger.size, 4);
  for (const shard of [1, 2, 3]) assert.equal(ledger.has('e', shard, 100), true, `shard ${shard} back with its time`);
  assert.equal(ledger.has('e', 1, 101), false, 'the time of the report is kept');
  assert.equal(ledger.has('x', 7, 0), true);

  ledger.checkpoint();
  ledger.take('e', 1, 0);
  ledger.commit();
  ledger.rollback(); // nothing open: nothing to put back
  assert.equal(ledger.has('e', 1, 0), false);
  assert.equal(ledger.size, 3);
});
