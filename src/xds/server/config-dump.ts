/**
 * `GET /debug/config_dump?proxy=ID` (docs/api.md): what keyway last sent one proxy, shaped like
 * Envoy's own admin `/config_dump` (an `envoy.admin.v3.ConfigDump`: one Clusters/Endpoints/
 * Listeners/RoutesConfigDump per type), in canonical ProtoJSON. Side by side with Envoy's dump it
 * shows whether the proxy runs what keyway sent.
 */
import { create, createRegistry, toJson, type JsonObject, type JsonValue } from '@bufbuild/protobuf';
import { anyPack, AnySchema, timestampFromMs, type Timestamp } from '@bufbuild/protobuf/wkt';
import {
  ClientResourceStatus,
  ClustersConfigDumpSchema,
  EndpointsConfigDumpSchema,
  ListenersConfigDumpSchema,
  RoutesConfigDumpSchema,
  UpdateFailureStateSchema,
  file_envoy_admin_v3_config_dump_shared,
  type UpdateFailureState,
} from '../proto.js';
import type { ProxyStatus, SentResources, TypeStatus } from './proxy-state.js';
import { XDS_REGISTRY } from '../translator/index.js';
import type { ResourceKind } from '../resources.js';

const REGISTRY = createRegistry(XDS_REGISTRY, file_envoy_admin_v3_config_dump_shared);

/** Per-type bookkeeping every dynamic entry of one type shares. */
interface TypeFacts {
  readonly versionInfo: string;
  readonly lastUpdated: Timestamp | undefined;
  readonly clientStatus: ClientResourceStatus;
  readonly errorState: UpdateFailureState | undefined;
}

function facts(row: TypeStatus): TypeFacts {
  const clientStatus =
    row.status === 'SYNCED' ? ClientResourceStatus.ACKED : row.status === 'NACKED' ? ClientResourceStatus.NACKED : ClientResourceStatus.UNKNOWN;
  const nack = row.status === 'NACKED' ? row.lastNack : undefined;
  return {
    versionInfo: row.versionSent ?? '',
    lastUpdated: row.sentAt ? timestampFromMs(Date.parse(row.sentAt)) : undefined,
    clientStatus,
    errorState: nack
      ? create(UpdateFailureStateSchema, { details: nack.message, versionInfo: nack.version, lastUpdateAttempt: timestampFromMs(Date.parse(nack.at)) })
      : undefined,
  };
}

const NOT_SENT: TypeStatus = { status: 'NOT_SENT', subscribed: { wildcard: false, names: [], count: 0 }, resources: 0 };

/**
 * The config dump of one proxy: `{configs: [...]}` with the clusters, endpoints, listeners and routes
 * (xDS send order) keyway last sent it. Each entry carries the version sent, when, whether the
 * proxy acknowledged it (`clientStatus` ACKED / NACKED) and, after a NACK, the proxy's error text
 * in `errorState.details`. An ownership agent has no Envoy dump type: its `configs` are the
 * `keyway.v1.ShardAssignment` resources it holds, each as an Any in ProtoJSON, sorted by name; its
 * versions and ACK state are in its `GET /v1/proxies` row (docs/ownership.md "Status").
 */
export function proxyConfigDump(row: ProxyStatus, sent: SentResources): JsonObject {
  if (row.flavor === 'agent') return { configs: sent.assignment.map((r) => toJson(AnySchema, r.any, { registry: REGISTRY })) };
  const f = (kind: ResourceKind): TypeFacts => facts(row.types[kind] ?? NOT_SENT);
  const entry = (kind: ResourceKind) => {
    const x = f(kind);
    return { versionInfo: x.versionInfo, lastUpdated: x.lastUpdated, clientStatus: x.clientStatus, errorState: x.errorState };
  };
  const clusters = create(ClustersConfigDumpSchema, {
    versionInfo: f('cluster').versionInfo,
    dynamicActiveClusters: sent.cluster.map((r) => ({ ...entry('cluster'), cluster: r.any })),
  });
  const endpoints = create(EndpointsConfigDumpSchema, {
    dynamicEndpointConfigs: sent.endpoint.map((r) => ({ ...entry('endpoint'), endpointConfig: r.any })),
  });
  const listeners = create(ListenersConfigDumpSchema, {
    versionInfo: f('listener').versionInfo,
    dynamicListeners: sent.listener.map((r) => {
      const x = f('listener');
      return {
        name: r.name,
        activeState: { versionInfo: x.versionInfo, listener: r.any, lastUpdated: x.lastUpdated },
        clientStatus: x.clientStatus,
        errorState: x.errorState,
      };
    }),
  });
  const routes = create(RoutesConfigDumpSchema, {
    dynamicRouteConfigs: sent.route.map((r) => ({ ...entry('route'), routeConfig: r.any })),
  });
  const configs: JsonValue[] = [
    anyPack(ClustersConfigDumpSchema, clusters),
    anyPack(EndpointsConfigDumpSchema, endpoints),
    anyPack(ListenersConfigDumpSchema, listeners),
    anyPack(RoutesConfigDumpSchema, routes),
  ].map((any) => toJson(AnySchema, any, { registry: REGISTRY }));
  return { configs };
}
