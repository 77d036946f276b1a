/**
 * The gateway's subset hint (endpoint picker protocol, "Endpoint Subset"): the request metadata
 * namespace `envoy.lb.subset_hint`, key `x-gateway-destination-endpoint-subset`, lists the
 * endpoints the picker may choose from. Gateways write it as a list of strings or as one
 * comma-separated string, each entry `ip:port` or a bare `ip` (any port); both forms are read.
 */
import type { JsonValue } from '@bufbuild/protobuf';
import { envoyIp } from './pick-table.js';
import { SUBSET_HINT_KEY, SUBSET_HINT_NAMESPACE } from './protocol.js';

/** The endpoints a gateway allows for one request. */
export interface SubsetHint {
  /** Whether `endpoint` (`ip:port`, IPv6 in brackets) is in the hint. */
  allows(endpoint: string): boolean;
}

/**
 * The hint in a request's metadata (`filterMetadata` of ext_proc's `metadata_context`), or
 * undefined when the gateway sent none. A hint that is present but empty allows nothing (the
 * protocol then asks for 503).
 */
export function subsetHint(filterMetadata: Readonly<Record<string, JsonValue>> | undefined): SubsetHint | undefined {
  const ns = filterMetadata?.[SUBSET_HINT_NAMESPACE];
  if (ns === null || typeof ns !== 'object' || Array.isArray(ns) || !(SUBSET_HINT_KEY in ns)) return undefined;
  const raw = ns[SUBSET_HINT_KEY];
  const items = Array.isArray(raw) ? raw : [raw];
  const hostPorts = new Set<string>();
  const hosts = new Set<string>();
  for (const item of items) {
    if (typeof item !== 'string') continue;
    for (const part of item.split(',')) {
      const entry = part.trim();
      if (entry === '') continue;
      // In the picker's spelling (Envoy's), however the gateway spelled the address.
      if (hasPort(entry)) hostPorts.add(respell(entry));
      else hosts.add(envoyIp(entry.replace(/^\[(.*)\]$/, '$1')));
    }
  }
  return {
    allows: (endpoint) => hostPorts.has(endpoint) || (hosts.size > 0 && hosts.has(hostOf(endpoint))),
  };
}

/** `1.2.3.4:80` and `[::1]:80` carry a port; `1.2.3.4`, `::1` and `[::1]` do not. */
function hasPort(entry: string): boolean {
  if (entry.startsWith('[')) return /\]:\d+$/.test(entry);
  return entry.indexOf(':') === entry.lastIndexOf(':') && entry.includes(':');
}

/** An `ip:port` entry with its address as the picker writes it (hostPort). */
function respell(entry: string): string {
  const colon = entry.lastIndexOf(':');
  const host = entry.slice(0, colon).replace(/^\[(.*)\]$/, '$1');
  return host.includes(':') ? `[${envoyIp(host)}]${entry.slice(colon)}` : entry;
}

/** The host of an `ip:port` the picker wrote (IPv6 without its brackets). */
function hostOf(endpoint: string): string {
  const colon = endpoint.lastIndexOf(':');
  return endpoint.slice(0, colon).replace(/^\[(.*)\]$/, '$1');
}
