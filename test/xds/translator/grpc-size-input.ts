/**
 * For the gRPC size bounds' tests (grpc-size.test.ts, envoy-fuzz.test.ts): the bounds' input
 * rebuilt from a translated gRPC set, and what the set really encodes to.
 */
import { create, toBinary } from '@bufbuild/protobuf';
import { anyPack } from '@bufbuild/protobuf/wkt';
import { DiscoveryResponseSchema, type ClusterLoadAssignment, type RouteConfiguration } from '../../../src/xds/proto.js';
import type { ResourceSet } from '../../../src/xds/resources.js';
import type { grpcSizeBounds } from '../../../src/xds/translator/grpc-size.js';
import { endpoint } from './fixtures.js';

/** The bounds' input rebuilt from a translated gRPC set: its shard routes and each assignment's endpoints. */
export function sizeInputOf(set: ResourceSet): Parameters<typeof grpcSizeBounds>[0] {
  const rc = set.route[0]!.message as RouteConfiguration;
  const routes = rc.virtualHosts.flatMap((vh) =>
    vh.routes.flatMap((r) => {
      const h = r.match?.headers[0];
      const m = h?.headerMatchSpecifier.case === 'stringMatch' ? h.headerMatchSpecifier.value.matchPattern : undefined;
      const cluster = r.action.case === 'route' && r.action.value.clusterSpecifier.case === 'cluster' ? r.action.value.clusterSpecifier.value : undefined;
      return m?.case === 'exact' && cluster !== undefined ? [{ shard: Number(m.value), cluster }] : [];
    }),
  );
  const clusters = new Map(
    set.endpoint.map((r) => {
      const cla = r.message as ClusterLoadAssignment;
      const eps = cla.endpoints.flatMap((l) =>
        l.lbEndpoints.flatMap((lb) => {
          if (lb.hostIdentifier.case !== 'endpoint') return [];
          const a = lb.hostIdentifier.value.address?.address;
          const locality = { region: l.locality?.region ?? '', zone: l.locality?.zone ?? '', subzone: l.locality?.subZone ?? '' };
          return a?.case === 'socketAddress' ? [endpoint(lb.hostIdentifier.value.hostname, a.value.address, { locality })] : [];
        }),
      );
      return [r.name, eps] as const;
    }),
  );
  return { routes, clusters };
}

/**
 * Encoded bytes of each kind of a set as one SotW response carries them: each resource packed in
 * an Any in DiscoveryResponse.resources (what one response of that kind holds at least).
 */
export function encodedBytes(set: ResourceSet): { route: number; cluster: number; endpoint: number } {
  const sum = (list: ResourceSet['route']): number =>
    list.reduce((a, r) => a + toBinary(DiscoveryResponseSchema, create(DiscoveryResponseSchema, { resources: [anyPack(r.schema, r.message as never)] })).length, 0);
  return { route: sum(set.route), cluster: sum(set.cluster), endpoint: sum(set.endpoint) };
}
