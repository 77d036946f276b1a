/**
 * What pushing an EDS change to many stock gRPC clients costs keyway (docs/xds-protocol.md "State
 * of the world": gRPC clients get only the assignments that changed):
 * `node --import tsx benchmarks/xds/partial-push-time.ts [--clients 200] [--clusters 2048] [--changes 5]`.
 *
 * An in-process xDS server (the test harness's: a snapshot cache over hand-made resources) and P
 * SotW clients with a gRPC user agent, each subscribed to the same C ClusterLoadAssignments and
 * holding them ACKed; then one assignment changes, `--changes` times. Timed: the cache rebuild and
 * the server's pushes to every stream, synchronous on keyway's thread (the clients read their
 * answers afterwards, untimed). Median and range, in milliseconds.
 */
import { parseArgs } from 'node:util';
import { startHarness } from '../../test/support/xds-client/harness.js';
import type { MiniTopology } from '../../test/support/xds-client/resources.js';
import { median } from '../hitrate/stats.js';

const { values } = parseArgs({ options: { clients: { type: 'string', default: '200' }, clusters: { type: 'string', default: '2048' }, changes: { type: 'string', default: '5' } } });
const P = Number(values.clients);
const C = Number(values.clusters);
const changes = Number(values.changes);
const names = Array.from({ length: C }, (_, i) => `c${String(i).padStart(5, '0')}`);
const topology = (changed: number): MiniTopology => ({ clusters: Object.fromEntries(names.map((n, i) => [n, [9000 + (i === 0 ? changed : 0)]])) });

// The harness's clients share one connection: lift the per-connection stream limit (docs/security.md).
const h = await startHarness(topology(0), { limits: { maxStreamsPerConnection: P + 1 } });
try {
  const clients = Array.from({ length: P }, (_, i) => h.client({ node: { id: `grpc-${i}`, userAgentName: 'gRPC Node Pure JS' } }));
  for (const c of clients) c.request('endpoint', names);
  for (const c of clients) {
    await c.expect('endpoint', 60_000);
    c.ack('endpoint');
  }
  await new Promise((r) => setTimeout(r, 500)); // the ACKs in
  const times: number[] = [];
  for (let k = 1; k <= changes; k++) {
    const t = performance.now();
    h.set(topology(k));
    times.push(performance.now() - t);
    for (const c of clients) {
      const r = await c.expect('endpoint', 60_000);
      if (r.resources.length !== 1) throw new Error(`a partial answer carries the one changed assignment, got ${r.resources.length}`);
      c.ack('endpoint');
    }
    await new Promise((r) => setTimeout(r, 300));
  }
  console.log(`| ${P} | ${C} | ${median(times).toFixed(1)} (${Math.min(...times).toFixed(1)}-${Math.max(...times).toFixed(1)}) |`);
} finally {
  await h.close();
}
