/**
 * What one make-before-break check costs keyway's main thread (docs/xds.md "Make-before-break for
 * stock gRPC clients"): the check runs after every event-loop turn that brought an ACK while a
 * class's change is staged, and passes only once every client of the class holds the snapshot.
 * `node --import tsx benchmarks/xds/stage-sync-time.ts [--clients 1000,200] [--clusters 1000,16384]`.
 *
 * P clients of one gRPC class, each holding C clusters and C endpoint assignments and one route
 * configuration, all ACKed: the worst case, every client compared. Two ways to hold them: the same
 * map objects (SotW streams served one shared selection) and a copy each (delta streams, or SotW
 * after a partial update). Medians of 5 checks, in milliseconds; the pairs run in the order given.
 */
import { parseArgs } from 'node:util';
import { grpcClassSynced } from '../../src/app/grpc-stage-sync.js';
import type { EncodedResource, Snapshot } from '../../src/xds/cache/index.js';
import type { ResourceKind } from '../../src/xds/resources.js';
import { ProxyRegistry, TypeTracker, type StreamRecord } from '../../src/xds/server/proxy-state.js';
import { median } from '../hitrate/stats.js';

const { values } = parseArgs({ options: { clients: { type: 'string', default: '1000,200' }, clusters: { type: 'string', default: '1000,16384' } } });
const clients = values.clients.split(',').map(Number);
const clusters = values.clusters.split(',').map(Number);
if (clients.length !== clusters.length) throw new Error('--clients and --clusters pair up: give as many of each');

const KINDS = ['cluster', 'endpoint', 'listener', 'route'] as const;
console.log('| clients | clusters | maps | ms per check (median, min-max) |');
console.log('|---|---|---|---|');
for (const [i, P] of clients.entries()) {
  const C = clusters[i]!;
  const resources = (kind: ResourceKind, n: number): Map<string, EncodedResource> =>
    new Map(Array.from({ length: n }, (_, j) => [`svc/owners/cache-${j},cache-${j + 1}`, { kind, name: `svc/owners/cache-${j},cache-${j + 1}`, version: `v${j}` } as unknown as EncodedResource]));
  const kinds = { cluster: resources('cluster', C), endpoint: resources('endpoint', C), listener: resources('listener', 1), route: resources('route', 1), assignment: new Map() };
  const snapshot = { kinds: Object.fromEntries(Object.entries(kinds).map(([k, m]) => [k, { version: 'x', resources: m }])) } as unknown as Snapshot;
  for (const shared of [true, false]) {
    const registry = new ProxyRegistry();
    const cls = { flavor: 'grpc' as const, zone: '', subzone: '' };
    for (let p = 0; p < P; p++) {
      const types = new Map<ResourceKind, TypeTracker>();
      for (const k of KINDS) {
        const t = new TypeTracker(k);
        t.initialized = true;
        t.recordSent('n', 'v', 0);
        t.recordAck(0);
        t.holdShared(shared ? kinds[k] : new Map(kinds[k]));
        types.set(k, t);
      }
      const identity = { id: `client-${p}`, cluster: 'c', userAgent: 'gRPC Node Pure JS', userAgentVersion: '1', locality: { region: '', zone: '', subzone: '' }, proxyClass: cls, servedClass: cls };
      registry.add({ id: `s${p}`, protocol: 'sotw', service: 'ads', startedAt: 0, identity, types } as StreamRecord);
    }
    const classKey = registry.proxies({ namesShown: 0 })[0]!.proxyClass;
    const cache = { classes: () => [{ classKey, snapshot }] };
    // The server's side as the xDS server gives it (rows and copies too, for an earlier check to run on).
    const server = { heldByClass: (k: string) => registry.heldByClass(k), proxies: (o?: { namesShown?: number }) => registry.proxies(o), sentResources: (id: string) => registry.sentResources(id) };
    const times: number[] = [];
    for (let r = 0; r < 5; r++) {
      const t = performance.now();
      if (!grpcClassSynced(server, cache, classKey)) throw new Error('expected in sync');
      times.push(performance.now() - t);
    }
    console.log(`| ${P} | ${C} | ${shared ? 'shared' : 'one copy each'} | ${median(times).toFixed(1)} (${Math.min(...times).toFixed(1)}-${Math.max(...times).toFixed(1)}) |`);
  }
}
