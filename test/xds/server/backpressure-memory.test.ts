/**
 * What a stream keeps while its push waits (the proxy has not read its backlog, or a subscription
 * hold-off runs) stays within its subscription (docs/security.md "xDS streams"): a client that
 * reads nothing, or just enough to stay under the stall limit, and keeps subscribing and
 * unsubscribing new names must not grow keyway's memory per name it ever asked; nor under "*",
 * where a name dropped is answered (sent again or listed as removed) only if it was sent or exists.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { heapAfterGc } from '../../support/heap.js';
import { pino } from 'pino';
import { create } from '@bufbuild/protobuf';
import { DeltaDiscoveryRequestSchema } from '../../../src/xds/proto.js';
import { SnapshotCache } from '../../../src/xds/cache/index.js';
import { TYPE_URL } from '../../../src/xds/resources.js';
import { ProxyRegistry } from '../../../src/xds/server/proxy-state.js';
import { DeltaSession } from '../../../src/xds/server/delta-session.js';
import type { StreamOutput } from '../../../src/xds/server/outbox.js';
import { miniSet, type MiniTopology } from '../../support/xds-client/resources.js';

const V1: MiniTopology = { clusters: { c0: [9001], c1: [9002] } };
const MB = 1 << 20;
const ROUNDS = 300;
/** 64 KiB names: a name kept per request is then 20 MB, far above the noise. */
const junk = (i: number): string => `${String(i).padStart(6, '0')}${'x'.repeat(64 << 10)}`;

for (const [what, kind, first] of [
  ['names subscribed and unsubscribed', 'endpoint', 'c0'],
  ['names dropped under "*"', 'cluster', '*'],
] as const) {
  test(`delta: ${what} while the push waits for a proxy that does not read are not kept`, { timeout: 20_000 }, async () => {
    const cache = new SnapshotCache({ build: () => miniSet(V1), checkConsistency: () => [] });
    const written: unknown[] = [];
    // The proxy read nothing of the first response: every later push waits.
    const out: StreamOutput = {
      get writable() {
        return written.length === 0;
      },
      write: (r) => void written.push(r),
    };
    const holdOff = { holdOffMs: 0, maxDelayMs: 0 };
    const session = new DeltaSession({ cache, registry: new ProxyRegistry(), logger: pino({ level: 'silent' }), holdOff }, '1', 'ads', out);
    const request = (sub: string[], unsub: string[] = []) =>
      session.onRequest(create(DeltaDiscoveryRequestSchema, { node: { id: 'slow-reader', userAgentName: 'envoy' }, typeUrl: TYPE_URL[kind], resourceNamesSubscribe: sub, resourceNamesUnsubscribe: unsub }));
    request([first]);
    assert.equal(written.length, 1);
    const churn = (from: number, n: number): void => {
      for (let i = from; i < from + n; i++) {
        request([junk(i)]);
        request([], [junk(i)]);
      }
    };
    churn(0, 20);
    const before = await heapAfterGc();
    churn(1_000, ROUNDS);
    const after = await heapAfterGc();
    assert.equal(written.length, 1, 'nothing more was written');
    assert.ok(after - before < 8 * MB, `heap grew by ${((after - before) / MB).toFixed(1)} MB over ${ROUNDS} names asked and dropped (${what})`);
    session.close('test over');
  });
}
