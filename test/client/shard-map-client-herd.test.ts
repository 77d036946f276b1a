// ShardMapClient: a big /v1/shardmap fetched by thousands of clients at once after a change shares
// keyway's link, so each transfer runs at the link's rate over the number of clients. A fixed bound
// of 5 minutes in all cut every such transfer at the same instant, and all the clients fetched
// again together: none ever finished. A body that declares its length gets the time it takes at
// MIN_TRANSFER_BYTES_PER_S when that is longer (src/client/shard-map-client.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ShardMapClient, MAX_TRANSFER_MS } from '../../src/client/shard-map-client.js';
import { FLOOR_BYTES_PER_S, fetchSlowly, paddedBody } from './slow-transfer.js';

test('a big map arriving steadily for longer than MAX_TRANSFER_MS, at over MIN_TRANSFER_BYTES_PER_S, is taken', async (t) => {
  // 8 MiB in 4 pieces 100 s apart: 400 s in all, past MAX_TRANSFER_MS, yet over 16 KiB/s.
  const body = paddedBody(8 << 20);
  assert.ok(4 * 100_000 > MAX_TRANSFER_MS && body.length / FLOOR_BYTES_PER_S > 500);
  const outcome = await fetchSlowly(t, body, 4, 100_000);
  assert.ok(outcome instanceof ShardMapClient, `the map is taken, got: ${String(outcome)}`);
  assert.equal(outcome.version, 'v1');
});
