// What keyway holds for the ownership agents' delta streams (docs/ownership.md "Cost"), beside the
// cache's own encodings (test/xds/cache/agent-heap.test.ts): each agent's class is its own, so
// anything a delta stream keeps per resource it was sent is one more copy of every assignment of
// the fleet. Measured by these tests (bytes per assignment, S = 16384, R = 2, the streams and raw
// clients in this process; a stream's fixed cost, some 16 KB, spread over its assignments):
//                                                      8 agents   200 agents
// before: a Resource wrapper kept per encoding (about
// 290 bytes, delta-wire-bytes.test.ts), each agent's
// latest response kept for sharing, a version map per
// stream                                                   552         659
// now                                                     7-10         100
// now but each agent's latest response kept                220
// now but a version map per stream                          34
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SnapshotCache } from '../../../src/xds/cache/index.js';
import { startXdsServer, type XdsServer } from '../../../src/xds/server/index.js';
import { checkConsistency, effectiveProxyClass, translate } from '../../../src/xds/translator/index.js';
import type { ProxyClass } from '../../../src/xds/resources.js';
import { heapAfterGc } from '../../support/heap.js';
import { eventually } from '../../support/eventually.js';
import { endpoint, handInput } from '../translator/fixtures.js';
import { connect, deltaRequest, openStream, type RawStream } from '../../../e2e/support/xds-raw.js';

const S = 16_384;
const R = 2;

const agent = (node: string): ProxyClass => ({ flavor: 'agent', zone: '', subzone: '', node });

/** An xDS server over `nodes` cache nodes owning S shards R times over, every class built and watched. */
async function fleet(t: { after(fn: () => unknown): void }, nodes: number): Promise<{ server: XdsServer; ids: string[] }> {
  const eps = Array.from({ length: nodes }, (_, i) => endpoint(`gpu-node-${String(i).padStart(5, '0')}`, `10.0.${i >> 8}.${i & 255}`));
  const owners = Array.from({ length: S }, (_, s) => Array.from({ length: R }, (_, r) => eps[(s * 7 + r * 13) % nodes]!.id));
  const input = handInput(eps, owners);
  const cache = new SnapshotCache({ build: (c) => translate(input, c), checkConsistency, servedClass: (c) => effectiveProxyClass(c, input) });
  // The classes exist before any stream: what is measured is the streams' own cost.
  const stops = eps.map((e) => cache.watch(agent(e.id), 'assignment', () => {}));
  const server = await startXdsServer({ cache, port: 0, host: '127.0.0.1', limits: { maxStreamsPerConnection: 1000 } });
  t.after(async () => {
    await server.close();
    stops.forEach((stop) => stop());
  });
  return { server, ids: eps.map((e) => e.id) };
}

/**
 * Heap per assignment of the agents `ids.slice(2)` once their delta streams are answered and read
 * whole; the first two connect before the measure, so code compiled on first use is not counted.
 */
async function heapPerAssignment(server: XdsServer, ids: readonly string[]): Promise<number> {
  const session = connect(server.port);
  try {
    const open = (some: readonly string[]): RawStream[] =>
      some.map((id) => openStream(session, deltaRequest({ id, userAgentName: 'keyway-agent' }, 'assignment', []), { delta: true }));
    const settled = async (streams: readonly RawStream[], n: number): Promise<void> => {
      await eventually('every agent answered', () => server.proxies().length === n && server.proxies().every((p) => p.types.assignment?.status === 'STALE'), {
        timeoutMs: 60_000,
      });
      // Read whole: no stream's bytes are still in flight when the heap is measured.
      let seen = -1;
      await eventually('the responses read whole (the bytes stop growing)', () => {
        const bytes = streams.reduce((sum, s) => sum + s.received(), 0);
        const stable = bytes === seen;
        seen = bytes;
        return stable;
      }, { timeoutMs: 60_000, intervalMs: 200 });
    };
    const warm = open(ids.slice(0, 2));
    await settled(warm, 2);
    const before = await heapAfterGc();
    const streams = open(ids.slice(2));
    await settled([...warm, ...streams], ids.length);
    const assignments = (S * R * (ids.length - 2)) / ids.length;
    return ((await heapAfterGc()) - before) / assignments;
  } finally {
    session.destroy();
  }
}

test('8 agents with 4096 assignments each: their delta streams hold no copy of the assignments, nor a version per assignment', { timeout: 120_000 }, async (t) => {
  const { server, ids } = await fleet(t, 8);
  const perAssignment = await heapPerAssignment(server, ids);
  t.diagnostic(`${perAssignment.toFixed(1)} bytes per assignment`);
  assert.ok(perAssignment < 25, `${perAssignment.toFixed(1)} bytes retained per assignment by the streams`);
});

test('200 agents at S = 16384, R = 2: the streams cost about their fixed cost, not some 680 bytes per assignment', { timeout: 120_000 }, async (t) => {
  const { server, ids } = await fleet(t, 200);
  const perAssignment = await heapPerAssignment(server, ids);
  t.diagnostic(`${perAssignment.toFixed(1)} bytes per assignment`);
  assert.ok(perAssignment < 200, `${perAssignment.toFixed(1)} bytes retained per assignment by the streams`);
});
