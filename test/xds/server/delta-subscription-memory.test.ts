/**
 * What one delta stream's subscription costs keyway (as subscription-memory.test.ts for SotW).
 * Envoys over delta xDS ask for the same hundreds of long names (EDS by name), and after a restart
 * of keyway every one of them sends its versions of every resource at once
 * (initial_resource_versions). Each stream kept its own copy of every name (subscribed, and as
 * held), of every version it resumed with, and two maps of what it held: ~120 KB per stream of 500
 * names, four times a SotW stream's, so a reconnect storm of 1000 such Envoys took ~120 MB.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { create, toBinary } from '@bufbuild/protobuf';
import { heapAfterGc } from '../../support/heap.js';
import { startHarness, ENVOY, type Harness } from '../../support/xds-client/harness.js';
import type { MiniTopology } from '../../support/xds-client/resources.js';
import { eventually } from '../../support/eventually.js';
import { connect, openStream, type RawStream } from '../../../e2e/support/xds-raw.js';
import { DeltaDiscoveryRequestSchema } from '../../../src/xds/proto.js';
import { TYPE_URL, type ResourceKind } from '../../../src/xds/resources.js';

/** Names as long as keyway's owner-tuple clusters with pod names (`<service>/owners/<id>,<id>`). */
const NAMES = Array.from({ length: 500 }, (_, i) => `keyway-cache/owners/gpu-${i}-statefulset-pod-name-${i},gpu-${i + 1}-statefulset-pod-name-${i + 1}`);
const TOPOLOGY: MiniTopology = { clusters: Object.fromEntries(NAMES.map((n, i) => [n, [9000 + (i % 1000)]])) };
const STREAMS = 100;
const KB = 1024;

/** One gRPC message frame: flag 0 (not compressed), 4-byte big-endian length, the bytes. */
function frame(bytes: Uint8Array): Buffer {
  const out = Buffer.alloc(5 + bytes.byteLength);
  out.writeUInt32BE(bytes.byteLength, 1);
  out.set(bytes, 5);
  return out;
}

/** A delta stream's first request, with the versions the proxy says it holds. */
function deltaFirst(id: string, kind: ResourceKind, subscribe: readonly string[], initial: Record<string, string>): Buffer {
  const req = create(DeltaDiscoveryRequestSchema, {
    node: { id, cluster: 'memory', userAgentName: 'envoy', locality: { region: '', zone: '', subZone: '' } },
    typeUrl: TYPE_URL[kind],
    resourceNamesSubscribe: [...subscribe],
    initialResourceVersions: initial,
  });
  return frame(toBinary(DeltaDiscoveryRequestSchema, req));
}

async function withHarness(t: { after(fn: () => unknown): void }): Promise<Harness> {
  const h = await startHarness(TOPOLOGY, { holdOff: { holdOffMs: 0, maxDelayMs: 0 }, limits: { maxStreamsPerConnection: 1000 } });
  t.after(() => h.close());
  return h;
}

/** The versions of every resource of `kind` keyway serves: what a proxy resuming from a restarted keyway holds. */
function versionsOf(h: Harness, kind: ResourceKind): Record<string, string> {
  return Object.fromEntries([...h.cache.snapshot(ENVOY)!.kinds[kind].resources.values()].map((r) => [r.name, r.version]));
}

/** Heap per delta stream opened with this first request, once every one is handled (bytes). */
async function heapPerStream(h: Harness, kind: ResourceKind, subscribe: readonly string[], initial: Record<string, string> = {}): Promise<number> {
  const session = connect(h.server.port);
  try {
    const open = (from: number, n: number): RawStream[] =>
      Array.from({ length: n }, (_, i) => openStream(session, deltaFirst(`envoy-${from + i}`, kind, subscribe, initial), { delta: true }));
    // Answered (STALE: the raw client never ACKs) or resumed in sync with nothing to send (SYNCED).
    const handled = (n: number): boolean => {
      const rows = h.server.proxies();
      return rows.length === n && rows.every((p) => p.types[kind]?.status === 'STALE' || p.types[kind]?.status === 'SYNCED');
    };
    // Warm up: the shared holdings and response exist, so what follows is the streams' own cost.
    const warm = open(0, 2);
    await eventually('warm-up streams handled', () => handled(2), { timeoutMs: 20_000 });
    // The whole response read, so no stream's bytes are still in flight when the heap is measured.
    let seen = -1;
    const size = await eventually('the warm-up response read whole (the bytes stop growing)', () => {
      const n = warm[0]!.received();
      const stable = n === seen && n === warm[1]!.received();
      seen = n;
      return stable ? { n } : undefined;
    }, { timeoutMs: 20_000, intervalMs: 200 });
    const before = await heapAfterGc();
    const streams = open(100, STREAMS);
    await eventually('every stream handled', () => streams.every((s) => s.received() === size.n) && handled(STREAMS + 2), { timeoutMs: 40_000 });
    return ((await heapAfterGc()) - before) / STREAMS;
  } finally {
    session.destroy();
  }
}

// Measured (KB per stream, 500 names; a SotW stream: 29 by name, 14 wildcard):
//                               before  after
// EDS by name                     121     43
// EDS by name, resuming           118     38
// wildcard CDS                     54     38  (with the endpoints to re-warm when EDS comes)
// wildcard CDS, resuming           58     28

test('delta streams subscribed to the same names share them and what they hold: a stream costs tens of KB, not a copy of every name', { timeout: 60_000 }, async (t) => {
  const h = await withHarness(t);
  const perStream = await heapPerStream(h, 'endpoint', NAMES);
  assert.ok(perStream < 50 * KB, `each stream costs ${(perStream / KB).toFixed(1)} KB`);
});

test('delta streams resuming with their versions of every resource (a restarted keyway) keep no copy of the names or versions', { timeout: 60_000 }, async (t) => {
  const h = await withHarness(t);
  const perStream = await heapPerStream(h, 'endpoint', NAMES, versionsOf(h, 'endpoint'));
  assert.ok(perStream < 50 * KB, `each stream costs ${(perStream / KB).toFixed(1)} KB`);
});

test('wildcard delta streams resuming in sync hold the snapshot\'s own map, not one each', { timeout: 60_000 }, async (t) => {
  const h = await withHarness(t);
  const perStream = await heapPerStream(h, 'cluster', [], versionsOf(h, 'cluster'));
  assert.ok(perStream < 40 * KB, `each stream costs ${(perStream / KB).toFixed(1)} KB`);
});

test('what delta streams hold stays each its own when shared: a change of one subscription leaves the others', async (t) => {
  const h = await startHarness({ clusters: { c0: [9001], c1: [9002], c2: [9003] } });
  t.after(() => h.close());
  const names = (id: string) => h.server.sentResources(id)!.endpoint.map((r) => `${r.name}@${r.version}`);
  const a = h.client({ node: { id: 'envoy-a' }, protocol: 'delta' });
  const b = h.client({ node: { id: 'envoy-b' }, protocol: 'delta' });
  const w = h.client({ node: { id: 'envoy-w' }, protocol: 'delta' });
  for (const c of [a, b]) c.delta('endpoint', { subscribe: ['c0', 'c1', 'nope'] });
  w.delta('endpoint', { subscribe: ['*'] });
  for (const c of [a, b, w]) c.delta('endpoint', { nonce: (await c.expect('endpoint')).nonce });
  const v = versionsOf(h, 'endpoint');
  assert.deepEqual(names('envoy-a'), [`c0@${v.c0}`, `c1@${v.c1}`]);
  assert.deepEqual(names('envoy-b'), names('envoy-a'));
  assert.deepEqual(names('envoy-w'), [`c0@${v.c0}`, `c1@${v.c1}`, `c2@${v.c2}`]);

  b.delta('endpoint', { unsubscribe: ['c0'] });
  await eventually('b dropped c0', () => names('envoy-b').length === 1);
  assert.deepEqual(names('envoy-b'), [`c1@${v.c1}`]);
  assert.deepEqual(names('envoy-a'), [`c0@${v.c0}`, `c1@${v.c1}`], 'a still holds what it held');

  h.set({ clusters: { c0: [9101], c1: [9102], c2: [9003] } });
  for (const c of [a, b, w]) c.delta('endpoint', { nonce: (await c.expect('endpoint')).nonce });
  const v2 = versionsOf(h, 'endpoint');
  assert.notEqual(v2.c0, v.c0);
  assert.deepEqual(names('envoy-a'), [`c0@${v2.c0}`, `c1@${v2.c1}`]);
  assert.deepEqual(names('envoy-b'), [`c1@${v2.c1}`]);
  assert.deepEqual(names('envoy-w'), [`c0@${v2.c0}`, `c1@${v2.c1}`, `c2@${v2.c2}`]);
});
