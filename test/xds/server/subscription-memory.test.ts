/**
 * What one SotW stream's subscription costs keyway: streams asking the same names (every stock
 * gRPC client of a class asks for the same clusters and endpoints) must not each keep their own
 * copy of those names and of the key that names their shared selection. A stock gRPC client over
 * 32 nodes at S = 1024 asks for about 550 clusters and as many endpoints: each stream kept ~190 KB
 * of copies, and grpc-js's decoder the bytes of its last request, so a reconnect storm of 1000 such
 * clients after a restart took the heap past the base manifest's 384 MiB (V8 aborted, the pod
 * restarted, and the clients came back at once).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { heapAfterGc } from '../../support/heap.js';
import { startHarness } from '../../support/xds-client/harness.js';
import type { MiniTopology } from '../../support/xds-client/resources.js';
import { eventually } from '../../support/eventually.js';
import { connect, openStream, sotwRequest, type RawStream } from '../../../e2e/support/xds-raw.js';

/** Names as long as keyway's owner-tuple clusters with pod names (`<service>/owners/<id>,<id>`). */
const NAMES = Array.from({ length: 500 }, (_, i) => `keyway-cache/owners/gpu-${i}-statefulset-pod-name-${i},gpu-${i + 1}-statefulset-pod-name-${i + 1}`);
const TOPOLOGY: MiniTopology = { clusters: Object.fromEntries(NAMES.map((n, i) => [n, [9000 + (i % 1000)]])) };
const STREAMS = 100;
const KB = 1024;

test('streams subscribed to the same names share them: a stream costs a few KB, not a copy of every name', { timeout: 60_000 }, async (t) => {
  const h = await startHarness(TOPOLOGY, { holdOff: { holdOffMs: 0, maxDelayMs: 0 }, limits: { maxStreamsPerConnection: 1000 } });
  t.after(() => h.close());
  const session = connect(h.server.port);
  t.after(() => session.destroy());
  const open = (from: number, n: number): RawStream[] =>
    Array.from({ length: n }, (_, i) => openStream(session, sotwRequest({ id: `envoy-${from + i}` }, 'endpoint', NAMES)));

  // Warm up: the shared selection and response exist, so what follows is the streams' own cost.
  const warm = open(0, 2);
  await eventually('warm-up streams answered', () => warm.every((s) => s.received() > 0), { timeoutMs: 20_000 });
  // The whole response read, so no stream's bytes are still in flight when the heap is measured.
  let seen = -1;
  const size = await eventually('the warm-up response read whole (the bytes stop growing)', () => {
    const n = warm[0]!.received();
    const stable = n === seen && n === warm[1]!.received();
    seen = n;
    return stable ? n : 0;
  }, { timeoutMs: 20_000, intervalMs: 200 });
  const before = await heapAfterGc();
  const streams = open(100, STREAMS);
  await eventually('every stream answered', () => streams.every((s) => s.received() === size) && h.server.proxies().length === STREAMS + 2, { timeoutMs: 40_000 });
  const perStream = ((await heapAfterGc()) - before) / STREAMS;
  // Measured: 165 KB with a copy of the names (60 KB) and of the key (45 KB) per stream, and the
  // request's last bytes kept by grpc-js's decoder until the next request (45 KB); 28 KB without.
  assert.ok(perStream < 50 * KB, `each stream costs ${(perStream / KB).toFixed(1)} KB`);
});
