/**
 * One spelling per IP address, for every place that must tell two spellings of one socket apart
 * from two sockets: the translator's endpoint keys (an Envoy snapshot with one host twice is
 * rejected) and the shard pickers' endpoint tables (grpc-go's picker compares `net.ParseIP`
 * forms, clients/go/shardpicker).
 */
import { isIP } from 'node:net';

/**
 * `address` lowercase with zeros compressed (`2001:DB8:0::1` is `2001:db8::1`); with `foldMapped`,
 * an IPv4-mapped IPv6 address (`::ffff:10.0.0.1`) as its IPv4 address. An IPv4 address as given.
 * Undefined for what is no IP literal, and for an IPv6 address with a zone (`fe80::1%eth0`), which
 * proxies reject and Go's ParseIP refuses.
 */
export function canonicalIp(address: string, foldMapped = false): string | undefined {
  const family = isIP(address);
  if (family === 4) return address;
  if (family !== 6 || address.includes('%')) return undefined;
  let ip: string;
  try {
    ip = new URL(`http://[${address}]/`).hostname.slice(1, -1);
  } catch {
    return undefined;
  }
  const mapped = foldMapped ? /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(ip) : null;
  if (!mapped) return ip;
  const hi = parseInt(mapped[1]!, 16);
  const lo = parseInt(mapped[2]!, 16);
  return `${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`;
}
