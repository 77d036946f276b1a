/**
 * A long-lived kind snapshot (a topology that does not change for weeks) must not keep what every
 * subscription ever seen cost: the shared selections and responses are cached per kind snapshot,
 * keyed by what clients asked, so clients churning their subscriptions (or a hostile one asking new
 * names in a loop) must not grow keyway's memory past `maxSharedBytes` (docs/security.md "xDS streams").
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { heapAfterGc } from '../../support/heap.js';
import { startHarness } from '../../support/xds-client/harness.js';
import { XdsTestClient } from '../../support/xds-client/xds-client.js';
import type { MiniTopology } from '../../support/xds-client/resources.js';
import { DEFAULT_XDS_STREAM_LIMITS, xdsStreamLimitsFromEnv } from '../../../src/xds/server/stream-limits.js';

const V1: MiniTopology = { clusters: { c0: [9001, 9002], c1: [9003] } };


const ROUNDS = 300;
/** 64 KiB names: the leak is then 20 MB and more, far above the noise of a few MB. */
const junk = (i: number): string => `${String(i).padStart(6, '0')}${'x'.repeat(64 << 10)}`;
const MB = 1 << 20;
/** The bound on what is shared (each of responses and selections), so the test needs not churn 256 MiB. */
const SHARED = 2 * MB;

test('delta: a client asking new names for ever leaves no memory behind per name', { timeout: 20_000 }, async (t) => {
  const h = await startHarness(V1, { holdOff: { holdOffMs: 0, maxDelayMs: 0 }, limits: { maxSharedBytes: SHARED } });
  t.after(() => h.close());
  const churn = async (from: number, n: number): Promise<void> => {
    const c = new XdsTestClient({ node: { id: `envoy-churn-${from}` }, protocol: 'delta', port: h.server.port });
    try {
      c.delta('endpoint', { subscribe: ['c0'] });
      await c.expect('endpoint');
      for (let i = from; i < from + n; i++) {
        c.delta('endpoint', { subscribe: [junk(i)], nonce: c.last('endpoint')!.nonce });
        const r = await c.expect('endpoint');
        assert.equal(r.removed.length, 1);
        c.delta('endpoint', { unsubscribe: [junk(i)], nonce: r.nonce });
      }
    } finally {
      c.close();
    }
  };
  await churn(0, 20);
  const before = await heapAfterGc();
  await churn(1_000, ROUNDS);
  const after = await heapAfterGc();
  assert.ok(after - before < 8 * MB, `heap grew by ${((after - before) / MB).toFixed(1)} MB over ${ROUNDS} subscriptions of absent names`);
});

test('SotW: a client asking new names for ever leaves no memory behind per subscription', { timeout: 20_000 }, async (t) => {
  const h = await startHarness(V1, { holdOff: { holdOffMs: 0, maxDelayMs: 0 }, limits: { maxSharedBytes: SHARED } });
  t.after(() => h.close());
  const churn = async (from: number, n: number): Promise<void> => {
    const c = new XdsTestClient({ node: { id: `envoy-sotw-churn-${from}` }, port: h.server.port });
    try {
      for (let i = from; i < from + n; i++) {
        // CDS: a changed subscription is always answered (which names exist).
        c.request('cluster', ['c0', junk(i)]);
        await c.expect('cluster');
        c.ack('cluster');
      }
    } finally {
      c.close();
    }
  };
  await churn(0, 20);
  const before = await heapAfterGc();
  await churn(1_000, ROUNDS);
  const after = await heapAfterGc();
  assert.ok(after - before < 8 * MB, `heap grew by ${((after - before) / MB).toFixed(1)} MB over ${ROUNDS} subscriptions`);
});

test('the bound on what streams share: 256 MiB by default, KEYWAY_XDS_MAX_SHARED_BYTES to change it', () => {
  assert.equal(DEFAULT_XDS_STREAM_LIMITS.maxSharedBytes, 256 * MB);
  assert.equal(xdsStreamLimitsFromEnv({ KEYWAY_XDS_MAX_SHARED_BYTES: '1048576' }).maxSharedBytes, MB);
  assert.throws(() => xdsStreamLimitsFromEnv({ KEYWAY_XDS_MAX_SHARED_BYTES: '0' }), /KEYWAY_XDS_MAX_SHARED_BYTES/);
});
