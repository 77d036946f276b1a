/**
 * Which proxy class a proxy is served, bounded by the topology (docs/security.md "xDS streams"):
 * a client picks its own node, so classes keyed on what it says could grow without end, one
 * translation and one snapshot each. Only what changes the translator's output may split classes:
 * a gRPC client's zone and subzone count when some endpoint has them and they change the order of
 * some shard's failover replicas (the translator orders them by nearness), an agent's node id
 * counts when that node has assignments. Every other value maps to the class whose resources are
 * the same: the class of a proxy that says nothing, or of its zone alone.
 */
import type { Endpoint } from '../../core/endpoint.js';
import { shardReaders } from '../../core/shard-map.js';
import type { ProxyClass } from '../resources.js';
import { hasAssignments, type AssignmentInput } from './agent-assignments.js';
import { nearnessTo } from './grpc-clusters.js';
import { placeKey } from './reuse.js';

/** The localities of a topology's endpoints, as the translator's nearness rules compare them. */
export interface KnownPlaces {
  /** Does an agent of this node id get assignments? */
  readonly assigned: (node: string) => boolean;
  /**
   * Does a stock gRPC client in this place (zone, subzone) get resources of its own? Only when it
   * reorders the owners after some shard's readers (grpc-clusters.ts orders them by nearness): a
   * shard with two of them or more, one nearer the place than one ranked before it. With R = 2 (the
   * default) no shard has two, but for a hot shard moved to a node outside its owners (bounded
   * load: the new primary, then the former owners): that shard alone splits only the places nearer
   * its replica than its former primary, not every place of the fleet.
   */
  readonly reordered: (zone: string, subzone: string) => boolean;
  /**
   * Endpoints per zone, per subzone, per (zone, subzone) pair (placeKey: free text, a separator
   * could be inside); zones each subzone is in. A place the topology knows has a count.
   */
  readonly counts: PlaceCounts;
}

interface PlaceCounts {
  readonly total: number;
  readonly zone: ReadonlyMap<string, number>;
  readonly subzone: ReadonlyMap<string, number>;
  readonly pair: ReadonlyMap<string, number>;
  readonly zonesOfSubzone: ReadonlyMap<string, ReadonlySet<string>>;
}

const memo = new WeakMap<AssignmentInput, KnownPlaces>();

/** The known places of one translator input (memoised per input object: every stream asks). */
export function knownPlaces(input: AssignmentInput): KnownPlaces {
  let known = memo.get(input);
  if (!known) {
    const endpoints: readonly Endpoint[] = input.shardMap.endpoints;
    const counts = placeCounts(endpoints);
    let tails: readonly (readonly Endpoint[])[] | undefined;
    const reordered = new Map<string, boolean>();
    known = {
      assigned: (node) => hasAssignments(input, node),
      // O(S) once per input, then per known place asked (bounded by the topology), memoised.
      reordered: (zone, subzone) => {
        const key = placeKey(zone, subzone);
        let r = reordered.get(key);
        if (r === undefined) reordered.set(key, (r = reordersSome((tails ??= tailsToOrder(input)), zone, subzone)));
        return r;
      },
      counts,
    };
    memo.set(input, known);
  }
  return known;
}

/**
 * `proxy` (already reduced by effectiveProxyClass) with what the topology does not know dropped:
 * an unknown zone, a subzone unknown in its zone (or, without a zone, anywhere), an agent node
 * without assignments (its class is the one "unknown node" class, node ''). A stock gRPC place
 * that orders every replica list as a smaller one does is served that one's class (sameOrderAs).
 */
export function boundedClass(proxy: ProxyClass, known: KnownPlaces): ProxyClass {
  if (proxy.flavor === 'agent') return known.assigned(proxy.node ?? '') ? proxy : { ...proxy, node: '' };
  if (proxy.flavor !== 'grpc' || proxy.picker === true) return proxy; // a picker class has no locality (effectiveProxyClass)
  const zone = proxy.zone !== '' && known.counts.zone.has(proxy.zone) ? proxy.zone : '';
  let subzone = '';
  // An unknown zone disables the fabric match too (the translator requires the same zone).
  if (proxy.subzone !== '' && (proxy.zone === '' || zone !== '')) {
    const seen = zone === '' ? known.counts.subzone.has(proxy.subzone) : known.counts.pair.has(placeKey(zone, proxy.subzone));
    if (seen) subzone = proxy.subzone;
  }
  const place = sameOrderAs(zone, subzone, known);
  return place.zone === proxy.zone && place.subzone === proxy.subzone ? proxy : { flavor: proxy.flavor, ...place };
}

/**
 * The smallest known place whose clients get the same replica order as clients in (zone, subzone).
 * The translator sorts a shard's failover replicas by nearness: same fabric (2), same zone (1),
 * else 0, then by rank. Two places order every list alike when they split the endpoints into the
 * same groups, highest first; a single group orders by rank alone, as no place does; and a place
 * that leaves every list it could reorder in rank order gets what a client that says nothing gets.
 * Left unmerged, a fleet with R = 2 in 40 fabrics made 85 classes translated apart into the same
 * bytes (S = 16384: 30 s per change, 3.4 GB of heap), and would again at any moved hot shard.
 */
function sameOrderAs(zone: string, subzone: string, known: KnownPlaces): { zone: string; subzone: string } {
  const none = { zone: '', subzone: '' };
  if (zone === '' && subzone === '') return none;
  const place = sameGroupsAs(zone, subzone, known);
  // A place that keeps every list in rank order gets what a client that says nothing gets.
  return known.reordered(place.zone, place.subzone) ? place : none;
}

/** The smallest known place that splits the endpoints into the same nearness groups as (zone, subzone). */
function sameGroupsAs(zone: string, subzone: string, known: KnownPlaces): { zone: string; subzone: string } {
  const none = { zone: '', subzone: '' };
  const { total, zone: inZone, subzone: inSubzone, pair, zonesOfSubzone } = known.counts;
  if (zone !== '') {
    const zoneSize = inZone.get(zone) ?? 0;
    // Every endpoint of the zone is in this fabric: fabric and zone are one group.
    const fabricIsZone = subzone === '' || pair.get(placeKey(zone, subzone)) === zoneSize;
    // A zone holding every endpoint ranks nothing above the rest: its fabric alone decides.
    if (!fabricIsZone) return zoneSize === total ? { zone: '', subzone } : { zone, subzone };
    return zoneSize === total ? none : { zone, subzone: '' };
  }
  // A fabric alone (no zone): its group is every endpoint with that subzone, in whichever zone.
  const size = inSubzone.get(subzone) ?? 0;
  if (size === total) return none;
  const zones = zonesOfSubzone.get(subzone);
  if (zones?.size === 1) {
    const [only] = zones;
    if (only !== undefined && only !== '' && inZone.get(only) === size) return { zone: only, subzone: '' };
  }
  return { zone, subzone };
}

function placeCounts(endpoints: readonly Endpoint[]): PlaceCounts {
  const zone = new Map<string, number>();
  const subzone = new Map<string, number>();
  const pair = new Map<string, number>();
  const zonesOfSubzone = new Map<string, Set<string>>();
  const bump = (m: Map<string, number>, k: string): void => void m.set(k, (m.get(k) ?? 0) + 1);
  for (const { locality: l } of endpoints) {
    bump(zone, l.zone);
    bump(subzone, l.subzone);
    bump(pair, placeKey(l.zone, l.subzone));
    let zones = zonesOfSubzone.get(l.subzone);
    if (!zones) zonesOfSubzone.set(l.subzone, (zones = new Set()));
    zones.add(l.zone);
  }
  return { total: endpoints.length, zone, subzone, pair, zonesOfSubzone };
}

/**
 * Per shard with two owners or more after its readers (the ones the translator orders by
 * nearness), those owners in rank order. The map's owners are a superset of those the translator
 * serves (it leaves out the not ready, keeping the order), so a place that keeps these in order
 * keeps what it serves in order too. Owners the map does not list as endpoints are left out.
 */
function tailsToOrder({ shardMap }: AssignmentInput): Endpoint[][] {
  const byId = new Map(shardMap.endpoints.map((e) => [e.id, e]));
  const tails: Endpoint[][] = [];
  shardMap.owners.forEach((ids, shard) => {
    if (ids.length - shardReaders(shardMap, shard) < 2) return;
    const tail = ids.slice(shardReaders(shardMap, shard)).flatMap((id) => byId.get(id) ?? []);
    if (tail.length >= 2) tails.push(tail);
  });
  return tails;
}

/** Does a client in (zone, subzone) move some owner of `tails` before one ranked ahead of it? */
function reordersSome(tails: readonly (readonly Endpoint[])[], zone: string, subzone: string): boolean {
  if (zone === '' && subzone === '') return false;
  const nearness = nearnessTo(zone, subzone);
  for (const tail of tails) {
    let before = 2;
    for (const e of tail) {
      const near = nearness(e);
      if (near > before) return true;
      before = near;
    }
  }
  return false;
}
