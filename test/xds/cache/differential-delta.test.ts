// Delta xDS over random change sequences (docs/xds-protocol.md "Delta"): a client that holds what
// it was sent, subscribes to the EDS and RDS names its clusters and listeners name, and checks every
// response: a resource is sent only when its version differs from the one held (or its name was just
// subscribed; to Envoy, a held ClusterLoadAssignment also right after clusters: the warming resend),
// `removed_resources` lists only names held or subscribed, and once the stream is quiet the client
// holds exactly the class's snapshot.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SnapshotCache, type Snapshot } from '../../../src/xds/cache/index.js';
import { startXdsServer } from '../../../src/xds/server/index.js';
import { checkConsistency, effectiveProxyClass, translate, type TranslatorInput } from '../../../src/xds/translator/index.js';
import { referencedNames } from '../../../src/xds/references.js';
import type { Message } from '@bufbuild/protobuf';
import type { ResourceKind } from '../../../src/xds/resources.js';
import { XdsTestClient, type Received } from '../../support/xds-client/xds-client.js';
import { Rng, fuzzBudget } from '../../support/seeded-random.js';
import { initialState, inputOf, nextState } from './differential-inputs.js';

const KINDS: readonly ResourceKind[] = ['cluster', 'endpoint', 'listener', 'route'];

interface Held {
  versions: Map<string, string>;
  refs: Map<string, readonly string[]>;
}

for (const [flavor, cls, userAgentName] of [
  ['proxyless gRPC', { flavor: 'grpc', zone: 'za', subzone: 'nvl-1' }, 'gRPC Node Pure JS'],
  ['Envoy', { flavor: 'envoy', zone: '', subzone: '' }, 'envoy'],
] as const) {
  test(`delta, ${flavor}: over random changes each response carries exactly what changed, and the client ends holding the snapshot`, async (t) => {
    const { iterations, seed } = fuzzBudget(1);
    const rng = new Rng(seed * 31 + (cls.flavor === 'grpc' ? 1 : 2));
    let state = initialState(rng);
    let input: TranslatorInput = inputOf(state);
    const cache = new SnapshotCache({ checkConsistency, build: (c) => translate(input, c), servedClass: (c) => effectiveProxyClass(c, input) });
    const server = await startXdsServer({ cache, port: 0, host: '127.0.0.1' });
    const client = new XdsTestClient({ port: server.port, node: { id: 'd-1', userAgentName, locality: { zone: cls.zone, subZone: cls.subzone } }, protocol: 'delta' });
    t.after(async () => {
      client.close();
      await server.close();
    });
    const held = Object.fromEntries(KINDS.map((k) => [k, { versions: new Map(), refs: new Map() } as Held])) as Record<ResourceKind, Held>;
    const subscribed: Record<'endpoint' | 'route', Set<string>> = { endpoint: new Set(), route: new Set() };
    const justSubscribed: Record<'endpoint' | 'route', Set<string>> = { endpoint: new Set(), route: new Set() };
    // Unsubscribed names: a response already under way may still carry them (or their removal).
    const dropped: Record<'endpoint' | 'route', Set<string>> = { endpoint: new Set(), route: new Set() };
    let lastKind: ResourceKind | undefined;
    let where = 'start';

    const want = (kind: 'endpoint' | 'route'): Set<string> => new Set([...held[kind === 'endpoint' ? 'cluster' : 'listener'].refs.values()].flat());
    const resubscribe = (): void => {
      for (const kind of ['endpoint', 'route'] as const) {
        const names = want(kind);
        const add = [...names].filter((n) => !subscribed[kind].has(n));
        const drop = [...subscribed[kind]].filter((n) => !names.has(n));
        if (add.length + drop.length === 0) continue;
        for (const n of add) {
          subscribed[kind].add(n);
          justSubscribed[kind].add(n);
        }
        for (const n of drop) {
          subscribed[kind].delete(n);
          held[kind].versions.delete(n);
          dropped[kind].add(n);
        }
        client.delta(kind, { subscribe: add, unsubscribe: drop });
      }
    };
    const apply = (r: Received): void => {
      const h = held[r.kind];
      for (const res of r.resources) {
        const fresh = r.kind === 'endpoint' || r.kind === 'route' ? justSubscribed[r.kind].delete(res.name) || dropped[r.kind].has(res.name) : false;
        const warmingResend = cls.flavor === 'envoy' && r.kind === 'endpoint' && lastKind === 'cluster';
        assert.ok(fresh || warmingResend || h.versions.get(res.name) !== res.version, `${where}: ${r.kind} ${res.name} resent at the version held (${res.version})`);
        if ((r.kind === 'endpoint' || r.kind === 'route') && !subscribed[r.kind].has(res.name)) continue; // late: unsubscribed
        h.versions.set(res.name, res.version!);
        h.refs.set(res.name, referencedNames(res.message as Message));
      }
      for (const name of r.removed) {
        const sub = r.kind === 'endpoint' || r.kind === 'route' ? subscribed[r.kind].has(name) || dropped[r.kind].has(name) : false;
        assert.ok(h.versions.has(name) || sub, `${where}: ${r.kind} ${name} removed, but neither held nor subscribed`);
        if (r.kind === 'endpoint' || r.kind === 'route') justSubscribed[r.kind].delete(name);
        h.versions.delete(name);
        h.refs.delete(name);
      }
      lastKind = r.kind;
      client.delta(r.kind, { nonce: r.nonce });
      resubscribe();
    };
    const inSync = (s: Snapshot): boolean =>
      KINDS.every((k) => {
        const served = [...s.kinds[k].resources.values()].filter((r) => k === 'cluster' || k === 'listener' || subscribed[k as 'endpoint' | 'route'].has(r.name));
        return served.length === held[k].versions.size && served.every((r) => held[k].versions.get(r.name) === r.version);
      });
    const settle = async (): Promise<void> => {
      const s = cache.snapshot(cls)!;
      dropped.endpoint.clear();
      dropped.route.clear();
      for (let i = 0; i < 200; i++) {
        const r = await client.next(inSync(s) ? 100 : 3000).catch(() => undefined);
        if (!r) break;
        apply(r);
      }
      assert.ok(inSync(s), `${where}: the client holds the snapshot`);
      assert.deepEqual(
        ['endpoint', 'route'].map((k) => [...subscribed[k as 'endpoint' | 'route']].sort()),
        ['endpoint', 'route'].map((k) => [...want(k as 'endpoint' | 'route')].sort()),
      );
    };

    client.delta('cluster');
    client.delta('listener');
    await settle();
    for (let step = 0; step < 25 * iterations; step++) {
      const next = nextState(rng, state);
      state = next.state;
      where = `step ${step} (${next.change})`;
      input = inputOf(state);
      const report = cache.rebuild((c) => translate(input, c));
      for (const c of report.classes) assert.equal(c.error, undefined);
      await settle();
    }
  });
}
