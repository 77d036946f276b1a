/**
 * A real xDS server on 127.0.0.1:0 over a snapshot cache fed with hand-made topologies, plus the
 * helpers protocol tests share: protocol-checking clients, convergence polling, ordering barriers.
 */
import assert from 'node:assert/strict';
import { SnapshotCache } from '../../../src/xds/cache/index.js';
import { startXdsServer, type XdsServer, type XdsServerEvents } from '../../../src/xds/server/index.js';
import { checkConsistency } from '../../../src/xds/translator/index.js';
import type { XdsStreamLimits } from '../../../src/xds/server/stream-limits.js';
import type { SubscriptionHoldOff } from '../../../src/xds/server/hold-off.js';
import type { ProxyClass, ResourceKind } from '../../../src/xds/resources.js';
import { miniSet, type MiniTopology } from './resources.js';
import { XdsTestClient, type Received, type XdsClientOptions } from './xds-client.js';

export interface Harness {
  readonly cache: SnapshotCache;
  readonly server: XdsServer;
  /** Replaces the topology and rebuilds at once (no coalescing), so pushes happen before it returns. */
  set(topology: MiniTopology): void;
  client(opts: Omit<XdsClientOptions, 'port'>): XdsTestClient;
  /** The kind versions of the current snapshot of `cls` (envoy, no locality, by default). */
  versions(cls?: ProxyClass): Record<ResourceKind, string>;
  close(): Promise<void>;
}

export const ENVOY: ProxyClass = { flavor: 'envoy', zone: '', subzone: '' };

export async function startHarness(topology: MiniTopology, opts: { limits?: Partial<XdsStreamLimits>; holdOff?: SubscriptionHoldOff; events?: XdsServerEvents } = {}): Promise<Harness> {
  let topo = topology;
  // The production check, except for the probes (`extraEndpoints`): ClusterLoadAssignments nobody
  // references, served on purpose for ordering barriers.
  const probe = (problem: string) => Object.keys(topo.extraEndpoints ?? {}).some((n) => problem === `endpoints ${n}: no EDS cluster references them`);
  const cache = new SnapshotCache({ build: () => miniSet(topo), checkConsistency: (set) => checkConsistency(set).filter((p) => !probe(p)) });
  const server = await startXdsServer({ cache, port: 0, host: '127.0.0.1', ...(opts.limits && { limits: opts.limits }), ...(opts.holdOff && { holdOff: opts.holdOff }), ...(opts.events && { events: opts.events }) });
  const clients: XdsTestClient[] = [];
  return {
    cache,
    server,
    set(t) {
      topo = t;
      const report = cache.rebuild();
      for (const c of report.classes) if (c.error) throw c.error;
    },
    client(opts) {
      const c = new XdsTestClient({ ...opts, port: server.port });
      clients.push(c);
      return c;
    },
    versions(cls = ENVOY) {
      const s = cache.snapshot(cls);
      assert.ok(s, 'no snapshot');
      return { cluster: s.kinds.cluster.version, endpoint: s.kinds.endpoint.version, listener: s.kinds.listener.version, route: s.kinds.route.version, assignment: s.kinds.assignment.version };
    },
    async close() {
      for (const c of clients) c.close();
      await server.close();
    },
  };
}

/**
 * Ordering barrier on a SotW stream: toggles the EDS subscription to `probe` (a CLA nobody
 * references) and expects the very next response to be that EDS answer. Because a stream's
 * responses are written in order, any response the server sent before it (an unwanted resend)
 * makes this fail.
 */
export async function sotwBarrier(client: XdsTestClient, names: readonly string[], probe = 'probe'): Promise<Received> {
  const last = client.last('endpoint');
  const hasProbe = last?.resources.some((r) => r.name === probe) ?? false;
  client.request('endpoint', hasProbe ? names : [...names, probe]);
  const r = await client.expect('endpoint');
  assert.equal(r.resources.some((x) => x.name === probe), !hasProbe, 'barrier response toggles the probe');
  client.ack('endpoint');
  return r;
}

/**
 * Ordering barrier on a delta stream: subscribes to a name that does not exist; the very next
 * response must be the EDS answer listing it as removed.
 */
let probes = 0;
export async function deltaBarrier(client: XdsTestClient): Promise<Received> {
  const probe = `absent-${++probes}`;
  client.delta('endpoint', { subscribe: [probe] });
  const r = await client.expect('endpoint');
  assert.deepEqual(r.removed, [probe], 'barrier response reports the absent probe');
  assert.equal(r.resources.length, 0);
  client.delta('endpoint', { unsubscribe: [probe], nonce: r.nonce });
  return r;
}
