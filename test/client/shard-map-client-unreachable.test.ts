// A ShardMapClient that cannot reach keyway says why: fetch() rejects with only "fetch failed" and
// keeps the reason in its cause, which has no code for some failures (a port fetch refuses).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ShardMapClient, KeywayError } from '../../src/client/index.js';

test('an unreachable keyway: the error names the reason, not just "fetch failed"', async () => {
  // 6000 (X11) is on fetch's list of refused ports: it fails before any connection is tried, so
  // this needs no listener and cannot reach one by chance.
  await assert.rejects(ShardMapClient.connect({ baseUrl: 'http://127.0.0.1:6000', pollIntervalMs: 0 }), (err: unknown) => {
    assert.ok(err instanceof KeywayError);
    assert.equal(err.code, 'KEYWAY_UNAVAILABLE');
    assert.match(err.message, /^GET http:\/\/127\.0\.0\.1:6000\/v1\/shardmap: fetch failed \(bad port\)$/);
    return true;
  });
});
