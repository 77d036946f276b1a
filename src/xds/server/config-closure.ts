/**
 * Whether a proxyless gRPC client holds a whole configuration (docs/xds-protocol.md "When a change
 * has converged"): a gRPC client asks for resources by name as it discovers them (listener, then
 * the route configuration it names, then the clusters its routes use, then their endpoints), so an
 * ACK of new routes says nothing about the clusters they send to. The client holds a whole
 * configuration when every name its acknowledged resources lead to was sent and acknowledged.
 */
import type { ResourceKind } from '../resources.js';
import type { TypeTracker } from './proxy-state.js';

/** Each kind's resources name resources of the next kind: listener → route → cluster → endpoint. */
const CHAIN: readonly (readonly [ResourceKind, ResourceKind])[] = [
  ['listener', 'route'],
  ['route', 'cluster'],
  ['cluster', 'endpoint'],
];

/**
 * True when, on one stream, every route configuration the held listeners name, every cluster the
 * held routes send to and every endpoint assignment the held clusters use is held, and the latest
 * response of each kind involved was acknowledged (so what was sent is what the client holds).
 */
export function holdsWholeConfig(types: ReadonlyMap<ResourceKind, TypeTracker>): boolean {
  for (const [from, to] of CHAIN) {
    const source = types.get(from);
    if (!source || source.sent.size === 0) continue;
    if (source.status() !== 'SYNCED') return false;
    const target = types.get(to);
    for (const r of source.sent.values()) {
      for (const name of r.references) {
        if (!target?.sent.has(name)) return false;
      }
    }
    if (target && target.sent.size > 0 && target.status() !== 'SYNCED') return false;
  }
  return true;
}
