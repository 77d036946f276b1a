/**
 * Proxies for the CLI, OpenAPI and web-view tests of `GET /v1/proxies`: rows built with the xDS
 * stage's own ProxyRegistry (identities read from real xDS Node messages), and real ADS clients.
 */
import { create } from '@bufbuild/protobuf';
import { NodeSchema } from '../../../src/xds/proto.js';
import { identityOf, ProxyRegistry, TypeTracker, type StreamRecord } from '../../../src/xds/server/proxy-state.js';
import { KIND_ORDER, type ResourceKind } from '../../../src/xds/resources.js';
import { referencedNames } from '../../../src/xds/cache/index.js';
import { XdsTestClient } from '../../support/xds-client/xds-client.js';

/**
 * Two proxies in the xDS stage's own registry: one in sync, one that rejected a route update. With
 * `agent`, also an ownership agent (user agent `keyway-agent`) that rejected its assignment with
 * that text.
 */
export function proxyRegistry(opts: { agent?: { nack: string } } = {}): ProxyRegistry {
  const registry = new ProxyRegistry();
  const now = Date.now();
  const stream = (id: string, node: string, agent: string, subZone: string, nack: ResourceKind | undefined, nackText = 'route config rejected: unknown cluster "c9"'): StreamRecord => {
    const types = new Map<ResourceKind, TypeTracker>();
    for (const kind of KIND_ORDER) {
      const t = new TypeTracker(kind);
      t.initialized = true;
      t.wildcard = true;
      t.recordSent(`n-${kind}`, `v-${kind}-1`, now - 60_000);
      if (kind === nack) t.recordNack(nackText, now - 30_000);
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
  registry.add(stream('1', 'envoy-1', 'envoy', 'f0', undefined));
  registry.add(stream('2', 'grpc-7', 'gRPC Node Pure JS', 'f1', 'route'));
  if (opts.agent) registry.add(stream('3', 'gpu-a1', 'keyway-agent', 'f0', 'assignment', opts.agent.nack));
  return registry;
}


/**
 * Connects a protocol-checking ADS client to a real keyway xDS server and walks Envoy's order (CDS,
 * EDS by the names clusters use, LDS, RDS by name), ACKing each response; with `nackRoutes` it
 * rejects the route configuration instead. The caller closes the client.
 */
export async function connectProxy(
  xdsPort: number,
  id: string,
  opts: { userAgentName?: string; region?: string; zone?: string; subZone?: string; nackRoutes?: string } = {},
): Promise<XdsTestClient> {
  const client = new XdsTestClient({
    port: xdsPort,
    node: { id, cluster: 'gateways', userAgentName: opts.userAgentName ?? 'envoy', locality: { region: opts.region ?? 'r', zone: opts.zone ?? 'z0', subZone: opts.subZone ?? 'f0' } },
  });
  try {
    client.request('cluster');
    const cds = await client.expect('cluster');
    client.ack('cluster');
    client.request('endpoint', cds.resources.flatMap((r) => referencedNames(r.message)));
    await client.expect('endpoint');
    client.ack('endpoint');
    client.request('listener');
    const lds = await client.expect('listener');
    client.ack('listener');
    client.request('route', lds.resources.flatMap((r) => referencedNames(r.message)));
    await client.expect('route');
    if (opts.nackRoutes !== undefined) client.nack('route', opts.nackRoutes);
    else client.ack('route');
  } catch (err) {
    client.close();
    throw err;
  }
  return client;
}
