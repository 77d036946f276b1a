/**
 * Small builders for envoy.config.core.v3 messages that both flavors share (ADS config sources,
 * localities, socket addresses, weights). Built with `create` and typed init objects, so a oneof
 * written the wrong way fails to compile instead of being dropped on the wire.
 */
import { create } from '@bufbuild/protobuf';
import { durationFromMs, type Duration } from '@bufbuild/protobuf/wkt';
import {
  AddressSchema,
  ApiVersion,
  ConfigSourceSchema,
  LocalitySchema,
  type Address,
  type ConfigSource,
  type Locality as LocalityMsg,
} from '../proto.js';
import { isIP } from 'node:net';
import type { Locality } from '../../core/endpoint.js';
import { canonicalIp } from './serving.js';

/**
 * "Fetch this over the same ADS stream, v3 resources" (xDS protocol: aggregated discovery). Used for
 * EDS in clusters and RDS in listeners; proxyless gRPC accepts only `ads` or `self` here.
 */
export function adsConfigSource(): ConfigSource {
  return create(ConfigSourceSchema, {
    configSourceSpecifier: { case: 'ads', value: {} },
    resourceApiVersion: ApiVersion.V3,
  });
}

/** An endpoint's locality as Envoy's Locality (sub_zone carries the NVLink fabric). */
export function localityMessage(l: Locality): LocalityMsg {
  return create(LocalitySchema, { region: l.region, zone: l.zone, subZone: l.subzone });
}

/**
 * A TCP socket address. `ipv4_compat` is set on every IPv4-mapped IPv6 address (`::ffff:a.b.c.d`),
 * keyway's priority-1 alias or an endpoint's own: without it Envoy opens a V6ONLY socket and cannot
 * reach the IPv4 peer (docs/envoy-findings.md 2b).
 */
export function socketAddress(address: string, port: number, ipv4Compat = false): Address {
  return create(AddressSchema, {
    address: {
      case: 'socketAddress',
      value: { address, portSpecifier: { case: 'portValue', value: port }, ipv4Compat: ipv4Compat || isIpv4Mapped(address) },
    },
  });
}

/** `::ffff:a.b.c.d` (or its hex spelling): an IPv6 address that is an IPv4 peer's socket. */
function isIpv4Mapped(address: string): boolean {
  return isIP(address) === 6 && isIP(canonicalIp(address, true)) === 4;
}

/** A google.protobuf.Duration from milliseconds, for the timeouts and intervals of Envoy clusters and health checks. */
export function duration(ms: number): Duration {
  return durationFromMs(ms);
}

/** Envoy's and gRPC's limit on a summed weight (a priority's, a locality's, a weighted_clusters'). */
export const UINT32_MAX = 0xffff_ffff;
/** A locality's weight: the sum of its endpoints' weights, kept within uint32. */
export function localityWeight(endpointWeights: readonly number[]): number {
  return Math.min(UINT32_MAX, Math.max(1, endpointWeights.reduce((a, b) => a + b, 0)));
}

/**
 * A map key for a locality, grouping EDS entries per locality (docs/xds.md); JSON, so no region,
 * zone or subzone name can collide with a separator.
 */
export function localityKey(l: Locality): string {
  return JSON.stringify([l.region, l.zone, l.subzone]);
}
