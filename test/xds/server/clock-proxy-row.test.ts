// A node's row shows its newest stream (docs/api.md, /v1/proxies). Streams are ordered by their
// start on the monotonic clock: ordered by wall time, a clock stepped back between a node's two
// starts (an NTP correction while a proxy reconnects) showed the older stream, NACKED while the
// newer one had ACKed, and /readyz, the sync gauges and gRPC make-before-break read that row.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startHarness } from '../../support/xds-client/harness.js';
import { eventually } from '../../support/eventually.js';

test('a node row shows its newer stream when the wall clock stepped back between their starts', async (t) => {
  const h = await startHarness({ clusters: { c0: [9001] } });
  t.after(() => h.close());
  const real = Date.now.bind(Date);
  let offset = 0;
  t.mock.method(Date, 'now', () => real() + offset);
  const older = h.client({ node: { id: 'envoy-twice' } });
  older.request('cluster', []);
  await older.expect('cluster');
  older.nack('cluster', 'rejected by the old stream');
  await eventually('nacked', () => (h.server.proxy('envoy-twice')?.types.cluster?.status === 'NACKED' ? true : undefined));
  offset = -3_600_000;
  const newer = h.client({ node: { id: 'envoy-twice' } });
  newer.request('cluster', []);
  await newer.expect('cluster');
  newer.ack('cluster');
  await eventually('the row follows the newer stream', () => (h.server.proxy('envoy-twice')?.types.cluster?.status === 'SYNCED' ? true : undefined), { timeoutMs: 3000 });
  assert.equal(h.server.proxy('envoy-twice')!.streams.length, 2, 'both streams still open');
});
