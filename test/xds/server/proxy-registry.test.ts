// What a make-before-break phase reads of the connected proxies (src/xds/server/proxy-state.ts,
// ProxyRegistry.heldByClass): for each node whose row names the class, the same sync status and
// the same resources the node's row and sentResources report, without building the rows.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { create } from '@bufbuild/protobuf';
import { LocalitySchema, NodeSchema } from '../../../src/xds/proto.js';
import { KIND_ORDER, type ResourceKind } from '../../../src/xds/resources.js';
import type { EncodedResource } from '../../../src/xds/cache/index.js';
import { identityOf, ProxyRegistry, TypeTracker, type StreamRecord } from '../../../src/xds/server/proxy-state.js';

const encoded = (name: string, version: string): EncodedResource => ({ name, version }) as unknown as EncodedResource;

function stream(id: string, nodeId: string, startedAt: number, opts: { userAgent: string; zone?: string; held?: Partial<Record<ResourceKind, string[]>>; acked?: boolean }): StreamRecord {
  const node = create(NodeSchema, { id: nodeId, userAgentName: opts.userAgent, ...(opts.zone ? { locality: create(LocalitySchema, { zone: opts.zone }) } : {}) });
  const types = new Map<ResourceKind, TypeTracker>();
  for (const [kind, names] of Object.entries(opts.held ?? {}) as [ResourceKind, string[]][]) {
    const t = new TypeTracker(kind);
    t.initialized = true;
    t.holdShared(new Map(names.map((n) => [n, encoded(n, `${id}-v`)])));
    t.nonce = 'n1';
    if (opts.acked) t.ackedNonce = 'n1';
    types.set(kind, t);
  }
  return { id, protocol: 'sotw', service: 'ads', startedAt, identity: identityOf(node), types };
}

test('heldByClass yields the nodes whose row names the class, with their rows\' status and resources', () => {
  const registry = new ProxyRegistry();
  const all = { cluster: ['a', 'b'], endpoint: ['a', 'b'], route: ['r'] };
  registry.add(stream('1', 'g1', 1, { userAgent: 'gRPC Node Pure JS', held: all, acked: true }));
  registry.add(stream('2', 'g2', 1, { userAgent: 'gRPC Node Pure JS', held: { cluster: ['a'] } }));
  registry.add(stream('3', 'e1', 1, { userAgent: 'envoy', held: all, acked: true }));
  registry.add(stream('4', 'gz', 1, { userAgent: 'gRPC Node Pure JS', zone: 'z1', held: all }));
  // One node, two streams: its row shows the newer one, an Envoy; the older gRPC stream does not count.
  registry.add(stream('5', 'mixed', 1, { userAgent: 'gRPC Node Pure JS', held: all, acked: true }));
  registry.add(stream('6', 'mixed', 2, { userAgent: 'envoy', held: { route: ['r'] } }));

  const rows = registry.proxies();
  const classes = new Set(rows.map((r) => r.proxyClass));
  assert.ok(classes.size >= 3, `only ${[...classes].join(', ')}`);
  for (const classKey of [...classes, 'grpc|nowhere|']) {
    const want = rows.filter((r) => r.proxyClass === classKey);
    const got = [...registry.heldByClass(classKey)];
    assert.equal(got.length, want.length, `class ${classKey}`);
    // The order is not promised: match each node by what it holds against its row.
    const unmatched = [...want];
    for (const held of got) {
      const i = unmatched.findIndex((row) =>
        KIND_ORDER.every((kind) => {
          const sent = registry.sentResources(row.id)![kind].map((r) => `${r.name}@${r.version}`);
          const h = held(kind);
          const mine = h ? [...h.sent.values()].map((r) => `${r.name}@${r.version}`).sort() : [];
          return (h?.status ?? 'NOT_SENT') === (row.types[kind]?.status ?? 'NOT_SENT') && JSON.stringify(mine) === JSON.stringify(sent);
        }),
      );
      assert.ok(i >= 0, `class ${classKey}: a node held nothing its row says`);
      unmatched.splice(i, 1);
    }
  }
  const envoys = [...registry.heldByClass('envoy||')];
  assert.equal(envoys.length, 2, 'e1, and mixed by its newer stream');
  // Per kind, as its row: the route from the newer stream (not ACKed), the clusters from the older.
  assert.ok(envoys.some((h) => h('route')?.status === 'STALE' && h('cluster')?.status === 'SYNCED'), "mixed's kinds as its row shows them");
});
