/**
 * Proxy rows as the xDS stage produces them (its own ProxyRegistry and TypeTracker, identities read
 * from real xDS Node messages), for the CLI and OpenAPI tests of `GET /v1/proxies`.
 */
import { create } from '@bufbuild/protobuf';
import { NodeSchema } from '../../../src/xds/proto/gen/envoy/config/core/v3/base_pb.js';
import { identityOf, ProxyRegistry, TypeTracker, type StreamRecord } from '../../../src/xds/server/proxy-state.js';
import { KIND_ORDER, type ResourceKind } from '../../../src/xds/resources.js';

/** Two proxies in the xDS stage's own registry: one in sync, one that rejected a route update. */
export function proxyRegistry(): ProxyRegistry {
  const registry = new ProxyRegistry();
  const now = Date.now();
  const stream = (id: string, node: string, agent: string, subZone: string, nack: boolean): StreamRecord => {
    const types = new Map<ResourceKind, TypeTracker>();
    for (const kind of KIND_ORDER) {
      const t = new TypeTracker(kind);
      t.initialized = true;
      t.wildcard = true;
      t.recordSent(`n-${kind}`, `v-${kind}-1`, now - 60_000);
      if (nack && kind === 'route') t.recordNack('route config rejected: unknown cluster "c9"', now - 30_000);
      else t.recordAck(now - 59_000);
      types.set(kind, t);
    }
    return {
      id,
      protocol: 'sotw',
      service: 'ads',
      startedAt: now - 125_000,
      identity: identityOf(
        create(NodeSchema, {
          id: node,
          cluster: 'gateways',
          userAgentName: agent,
          userAgentVersionType: { case: 'userAgentVersion', value: '1.36.4' },
          locality: { region: 'r', zone: 'z0', subZone },
        }),
      ),
      types,
    };
  };
  registry.add(stream('1', 'envoy-1', 'envoy', 'f0', false));
  registry.add(stream('2', 'grpc-7', 'gRPC Node Pure JS', 'f1', true));
  return registry;
}

