/**
 * Make-before-break for stock proxyless gRPC clients (docs/xds.md "Make-before-break for stock gRPC
 * clients"): real @grpc/grpc-js-xds, grpc-go and python grpcio clients call keyway-routed backends
 * without pause, half wait-for-ready and half fail-fast, while a cache node joins (new owner-tuple
 * clusters) and then one leaves (it drains once keyway moved its shards). No call may fail.
 * `KEYWAY_XDS_GRPC_STAGE_TIMEOUT_MS=0` turns make-before-break off, for the "before" figure
 * (docs/benchmarks.md): then the assertion fails and prints how many calls failed.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { joinAndLoss } from './support/mbb-scenario.js';

test('stock grpc-js-xds, grpc-go and python grpcio lose no call across a node join and a node loss', { timeout: 900_000 }, async (t) => {
  const totals = await joinAndLoss(t, { require: process.env.KEYWAY_REQUIRE_E2E === '1', note: (m) => t.diagnostic(m) });
  for (const [language, r] of totals) {
    t.diagnostic(`${language}: ${r.ok} calls ok, ${r.failed} failed ${JSON.stringify(r.errors)}`);
  }
  for (const [language, r] of totals) {
    assert.ok(r.ok > 0, `${language} made calls`);
    assert.equal(r.failed, 0, `${language}: ${r.failed} calls failed across the join and the loss: ${JSON.stringify(r.errors)}`);
  }
});
