/**
 * Vocabulary shared by the xDS translator, snapshot cache and server: resource kinds, their type
 * URLs, the make-before-break order, and the proxy class that decides which variant a proxy gets.
 */
import type { DescMessage, MessageShape } from '@bufbuild/protobuf';

import type { ProxyFlavor, ResourceKind } from '../core/proxy.js';
import { SHARD_PICKER_METADATA_KEY, SHARD_PICKER_VERSION } from '../core/shard-picker.js';

export type { ProxyFlavor, ResourceKind };

/** xDS v3 type URLs (envoy.config.*.v3), and keyway's ownership resource (docs/ownership.md). */
export const TYPE_URL: Readonly<Record<ResourceKind, string>> = {
  cluster: 'type.googleapis.com/envoy.config.cluster.v3.Cluster',
  endpoint: 'type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment',
  listener: 'type.googleapis.com/envoy.config.listener.v3.Listener',
  route: 'type.googleapis.com/envoy.config.route.v3.RouteConfiguration',
  assignment: 'type.googleapis.com/keyway.v1.ShardAssignment',
};

/**
 * Make-before-break send order (xDS protocol "eventual consistency considerations"): CDS, EDS,
 * LDS, RDS; the ownership kind last (no proxy flavor receives it together with the others).
 */
export const KIND_ORDER: readonly ResourceKind[] = ['cluster', 'endpoint', 'listener', 'route', 'assignment'];

/** `node.user_agent_name` of the ownership agent (`keyway/agent`): its proxy flavor is `agent`. */
export const AGENT_USER_AGENT = 'keyway-agent';

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
  /**
   * The node id, set only for the `agent` flavor: a cache node's assignments depend on which node
   * it is, so every agent is a class of its own. Absent for Envoy and gRPC.
   */
  readonly node?: string;
  /**
   * A gRPC client that carries keyway's shard picker (bootstrap node.metadata
   * `keyway.shard_picker: "v1"`): one route and one cluster whose policy holds the owner table
   * (docs/xds.md "The shard picker"). Absent for every other proxy.
   */
  readonly picker?: true;
}

/**
 * Stable string key of a proxy class, for maps: `flavor|zone|subzone`, then `|node` for an agent,
 * `|picker` for a picker client. Zone and subzone are free text: `|` and `\` in them are escaped,
 * so a stock client in fabric `|picker` does not share the picker class's key (and its resources).
 */
export function proxyClassKey(c: ProxyClass): string {
  const esc = (s: string): string => s.replace(/[\\|]/g, (ch) => `\\${ch}`);
  const base = `${c.flavor}|${esc(c.zone)}|${esc(c.subzone)}`;
  if (c.picker === true) return `${base}|picker`;
  return c.node === undefined ? base : `${base}|${c.node}`;
}

/**
 * Classifies a proxy from its xDS `node` (docs/architecture.md "Vocabulary": Envoy sends user_agent_name "envoy",
 * grpc-js-xds "gRPC Node Pure JS"; any "gRPC..." agent is proxyless; `keyway-agent` is a cache
 * node's ownership agent, docs/ownership.md). Unknown agents get the Envoy flavor, the richer of the two.
 * A gRPC client whose node.metadata says `keyway.shard_picker: "v1"` is a picker client (the
 * shard-picker contract, src/core/shard-picker.ts); any other value keeps the stock routes.
 */
export function classifyProxy(node: {
  id?: string;
  userAgentName?: string;
  locality?: { zone?: string; subZone?: string } | undefined;
  metadata?: { readonly [key: string]: unknown } | undefined;
}): ProxyClass {
  const agent = node.userAgentName ?? '';
  const where = { zone: node.locality?.zone ?? '', subzone: node.locality?.subZone ?? '' };
  if (agent === AGENT_USER_AGENT) return { flavor: 'agent', ...where, node: node.id ?? '' };
  if (!agent.startsWith('gRPC')) return { flavor: 'envoy', ...where };
  const picker = node.metadata?.[SHARD_PICKER_METADATA_KEY] === SHARD_PICKER_VERSION;
  return picker ? { flavor: 'grpc', ...where, picker: true } : { flavor: 'grpc', ...where };
}

/** One translated resource before encoding: the cache encodes `message` with `schema` once per content. */
export interface TranslatedResource<Desc extends DescMessage = DescMessage> {
  readonly name: string;
  readonly schema: Desc;
  readonly message: MessageShape<Desc>;
}

/**
 * The translator's output for one proxy class: every resource of every kind, sorted by name. The
 * four xDS kinds are always present (empty for an agent); `assignment` only for an agent.
 */
export type ResourceSet = Readonly<Record<Exclude<ResourceKind, 'assignment'>, readonly TranslatedResource[]>> & {
  readonly assignment?: readonly TranslatedResource[];
};

/** The resources of `kind` in `set` (none when the set leaves the kind out). */
export function resourcesOf(set: ResourceSet, kind: ResourceKind): readonly TranslatedResource[] {
  return set[kind] ?? [];
}
