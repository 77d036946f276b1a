// ShardMapClient: a body that keeps trickling in, never silent for timeoutMs, is still cut at
// MAX_TRANSFER_MS when its declared length would take less at MIN_TRANSFER_BYTES_PER_S.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { KeywayError } from '../../src/client/index.js';
import { fetchSlowly, paddedBody } from './slow-transfer.js';

test('a small map trickling in for longer than MAX_TRANSFER_MS is still cut there', async (t) => {
  // 64 KiB takes 4 s at MIN_TRANSFER_BYTES_PER_S: the bound stays MAX_TRANSFER_MS.
  const outcome = await fetchSlowly(t, paddedBody(64 << 10), 4, 100_000);
  assert.ok(outcome instanceof KeywayError, `cut, got: ${String(outcome)}`);
  assert.match(outcome.message, /v1\/shardmap: the answer took over 300000 ms in all \(the bound of a transfer\)$/);
});
