/**
 * Vocabulary shared by the xDS translator, snapshot cache and server: resource kinds, their type
 * URLs, the make-before-break order, and the proxy class that decides which variant a proxy gets.
 */
import type { DescMessage, MessageShape } from '@bufbuild/protobuf';

import type { ProxyFlavor, ResourceKind } from '../core/proxy.js';

export type { ProxyFlavor, ResourceKind };

/** xDS v3 type URLs (envoy.config.*.v3). */
export const TYPE_URL: Readonly<Record<ResourceKind, string>> = {
  cluster: 'type.googleapis.com/envoy.config.cluster.v3.Cluster',
  endpoint: 'type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment',
  listener: 'type.googleapis.com/envoy.config.listener.v3.Listener',
  route: 'type.googleapis.com/envoy.config.route.v3.RouteConfiguration',
};

/** Make-before-break send order (xDS protocol "eventual consistency considerations"): CDS, EDS, LDS, RDS. */
export const KIND_ORDER: readonly ResourceKind[] = ['cluster', 'endpoint', 'listener', 'route'];

/** Maps an xDS type URL to its kind; undefined for types keyway does not serve. */
export function kindOfTypeUrl(typeUrl: string): ResourceKind | undefined {
  return KIND_ORDER.find((k) => TYPE_URL[k] === typeUrl);
}

/**
 * Everything about a proxy that its resources depend on. Proxies of one class share one
 * snapshot, so each variant is translated and encoded once.
 */
export interface ProxyClass {
  readonly flavor: ProxyFlavor;
  /** The proxy's NVLink fabric (node.locality.sub_zone), '' when unknown. */
  readonly subzone: string;
  /** The proxy's zone (node.locality.zone), '' when unknown. */
  readonly zone: string;
}

/** Stable string key of a proxy class, for maps. */
export function proxyClassKey(c: ProxyClass): string {
  return `${c.flavor}|${c.zone}|${c.subzone}`;
}

/**
 * Classifies a proxy from its xDS `node` (docs/architecture.md "Vocabulary": Envoy sends user_agent_name "envoy",
 * grpc-js-xds "gRPC Node Pure JS"; any "gRPC..." agent is proxyless). Unknown agents get the
 * Envoy flavor, the richer of the two.
 */
export function classifyProxy(node: {
  userAgentName?: string;
  locality?: { zone?: string; subZone?: string } | undefined;
}): ProxyClass {
  const agent = node.userAgentName ?? '';
  return {
    flavor: agent.startsWith('gRPC') ? 'grpc' : 'envoy',
    zone: node.locality?.zone ?? '',
    subzone: node.locality?.subZone ?? '',
  };
}

/** One translated resource before encoding: the cache encodes `message` with `schema` once per content. */
export interface TranslatedResource<Desc extends DescMessage = DescMessage> {
  readonly name: string;
  readonly schema: Desc;
  readonly message: MessageShape<Desc>;
}

/** The translator's output for one proxy class: every resource of every kind, sorted by name. */
export type ResourceSet = Readonly<Record<ResourceKind, readonly TranslatedResource[]>>;
