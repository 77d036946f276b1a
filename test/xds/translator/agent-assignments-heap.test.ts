// What the ownership translator keeps between map changes (docs/ownership.md "Resources"): each
// node's ShardAssignment resources and what they were made from, S x R of them in all. Measured in
// a file of its own: what another test's translation left in the translator's memo would count.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { agentAssignments } from '../../../src/xds/translator/index.js';
import { heapAfterGc } from '../../support/heap.js';
import { endpoint, handInput } from './fixtures.js';

test('S = 16384, R = 2, 200 agents: the translator keeps under 280 bytes per assignment between map changes', async () => {
  const eps = Array.from({ length: 200 }, (_, i) => endpoint(`gpu-node-${String(i).padStart(5, '0')}`, `10.0.${i >> 8}.${i & 255}`));
  const input = handInput(eps, Array.from({ length: 16_384 }, (_, s) => [eps[(s * 7) % 200]!.id, eps[(s * 7 + 13) % 200]!.id]));
  const before = await heapAfterGc();
  let assignments = 0;
  for (const e of eps) assignments += agentAssignments(input, e.id).resources.length;
  const perAssignment = ((await heapAfterGc()) - before) / assignments;
  assert.equal(assignments, 16_384 * 2);
  // Some 235 bytes: the message and its translated resource. What each node's resources were made
  // from is kept for the next change as one number per SERVING assignment; kept as a key string
  // of every field, the node's assignments cost some 325.
  assert.ok(perAssignment < 280, `${perAssignment.toFixed(0)} bytes retained per assignment`);
});
