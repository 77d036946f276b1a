/**
 * Which proxy class a proxy is served, bounded by the topology (docs/security.md "xDS streams"):
 * a client picks its own node, so classes keyed on what it says could grow without end, one
 * translation and one snapshot each. Only what changes the translator's output may split classes:
 * a gRPC client's zone and subzone count when some endpoint has them (the translator orders
 * replicas by nearness to them), an agent's node id counts when that node has assignments. Every
 * other value maps to the class of a proxy that says nothing, whose resources are the same.
 */
import type { Endpoint } from '../../core/endpoint.js';
import type { ProxyClass } from '../resources.js';
import { hasAssignments, type AssignmentInput } from './agent-assignments.js';
import { placeKey } from './reuse.js';

/** The localities of a topology's endpoints, as the translator's nearness rules compare them. */
export interface KnownPlaces {
  readonly zones: ReadonlySet<string>;
  readonly subzones: ReadonlySet<string>;
  /** (zone, subzone) pairs, as placeKey writes them (free text: a separator could be inside). */
  readonly pairs: ReadonlySet<string>;
  /** Does an agent of this node id get assignments? */
  readonly assigned: (node: string) => boolean;
}

const memo = new WeakMap<AssignmentInput, KnownPlaces>();

/** The known places of one translator input (memoised per input object: every stream asks). */
export function knownPlaces(input: AssignmentInput): KnownPlaces {
  let known = memo.get(input);
  if (!known) {
    const endpoints: readonly Endpoint[] = input.shardMap.endpoints;
    known = {
      zones: new Set(endpoints.map((e) => e.locality.zone)),
      subzones: new Set(endpoints.map((e) => e.locality.subzone)),
      pairs: new Set(endpoints.map((e) => placeKey(e.locality.zone, e.locality.subzone))),
      assigned: (node) => hasAssignments(input, node),
    };
    memo.set(input, known);
  }
  return known;
}

/**
 * `proxy` (already reduced by effectiveProxyClass) with what the topology does not know dropped:
 * an unknown zone, a subzone unknown in its zone (or, without a zone, anywhere), an agent node
 * without assignments (its class is the one "unknown node" class, node '').
 */
export function boundedClass(proxy: ProxyClass, known: KnownPlaces): ProxyClass {
  if (proxy.flavor === 'agent') return known.assigned(proxy.node ?? '') ? proxy : { ...proxy, node: '' };
  if (proxy.flavor !== 'grpc' || proxy.picker === true) return proxy; // a picker class has no locality (effectiveProxyClass)
  const zone = proxy.zone !== '' && known.zones.has(proxy.zone) ? proxy.zone : '';
  let subzone = '';
  // An unknown zone disables the fabric match too (the translator requires the same zone).
  if (proxy.subzone !== '' && (proxy.zone === '' || zone !== '')) {
    const seen = zone === '' ? known.subzones.has(proxy.subzone) : known.pairs.has(placeKey(zone, proxy.subzone));
    if (seen) subzone = proxy.subzone;
  }
  return zone === proxy.zone && subzone === proxy.subzone ? proxy : { flavor: proxy.flavor, zone, subzone };
}
