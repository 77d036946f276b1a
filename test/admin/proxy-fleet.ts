/**
 * A fleet of proxies in the xDS stage's own ProxyRegistry that a test connects and disconnects
 * between requests, for the paging tests of `GET /v1/proxies` and `keyway status`.
 */
import { create } from '@bufbuild/protobuf';
import type { ProxyStatusReader } from '../../src/core/proxy.js';
import { NodeSchema } from '../../src/xds/proto.js';
import { identityOf, ProxyRegistry, TypeTracker, type StreamRecord } from '../../src/xds/server/proxy-state.js';
import { KIND_ORDER, type ResourceKind } from '../../src/xds/resources.js';

/** Node ids that sort as their numbers do. */
export const idOf = (i: number): string => `envoy-${String(i).padStart(4, '0')}`;

/** One ADS stream of node `id`, every type acknowledged, or the route type NACKed with `nack`. */
export function stream(id: string, opts: { nack?: boolean; agent?: boolean } = {}): StreamRecord {
  const now = Date.now();
  const types = new Map<ResourceKind, TypeTracker>();
  for (const kind of KIND_ORDER) {
    const t = new TypeTracker(kind);
    t.initialized = true;
    t.wildcard = true;
    t.recordSent(`n-${kind}`, `v-${kind}`, now - 2000);
    if (opts.nack && (kind === 'route' || kind === 'assignment')) t.recordNack('rejected', now - 1000);
    else t.recordAck(now - 1500);
    types.set(kind, t);
  }
  const node = create(NodeSchema, { id, cluster: 'gw', userAgentName: opts.agent ? 'keyway-agent' : 'envoy', locality: { region: 'r', zone: 'z', subZone: 'f' } });
  return { id: `s-${id}`, protocol: 'sotw', service: 'ads', startedAt: now - 5000, identity: identityOf(node), types };
}

/** A registry the test connects and disconnects proxies in, and a reader over it that counts the rows it builds. */
export class Fleet {
  readonly registry = new ProxyRegistry();
  readonly streams = new Map<string, StreamRecord>();
  rowsBuilt = 0;
  wholeLists = 0;
  /** Paged requests read (each reads the ids once), and what to change before the n-th is answered. */
  pagesRead = 0;
  beforePage: ((n: number) => void) | undefined;
  /** Ids the reader counts but serves no row for (an agent within its reconnect grace). */
  readonly graceIds = new Set<string>();

  connect(id: string, opts: { nack?: boolean; agent?: boolean } = {}): void {
    const s = stream(id, opts);
    this.streams.set(id, s);
    this.registry.add(s);
  }

  disconnect(id: string): void {
    this.registry.remove(this.streams.get(id)!);
    this.streams.delete(id);
  }

  reader(): ProxyStatusReader {
    return {
      proxies: (o) => (this.wholeLists++, this.registry.proxies(o)),
      proxy: (id, o) => (this.rowsBuilt++, this.registry.proxy(id, o)),
      configDump: () => undefined,
      nodeIds: (flavor) => {
        // A page reads the ids of every flavor, envoy first: a page begins.
        if (flavor === 'envoy') {
          this.pagesRead++;
          this.beforePage?.(this.pagesRead);
        }
        return new Set([...this.registry.nodeIds(flavor), ...(flavor === 'agent' ? this.graceIds : [])]);
      },
    };
  }
}

