/**
 * One spelling per socket for the picker's endpoints, the one grpc-go's picker uses
 * (clients/go/shardpicker canonicalAddr: net.JoinHostPort(net.ParseIP(host).String(), port)), so
 * both pickers accept, refuse and match the same `endpoints` entries.
 */
import { isIP } from 'node:net';
import { canonicalIp } from '../core/ip-address.js';

/**
 * `10.0.0.1:8000`, `[::1]:8000` or `::1:8000` (an IPv6 address then `:port`, as a plain join writes
 * it) in `ip:port` / `[ip6]:port` form: IPv6 lowercase with zeros compressed, an IPv4-mapped address
 * as its IPv4 address. Undefined for anything that is not an IP literal and a port in [0, 65535].
 */
export function canonicalAddress(s: string): string | undefined {
  let host: string;
  let port: string;
  const bracketed = /^\[([^\]]*)\]:([^:]*)$/.exec(s);
  if (bracketed) [, host, port] = bracketed as unknown as [string, string, string];
  else {
    const i = s.lastIndexOf(':');
    if (i < 0) return undefined;
    host = s.slice(0, i);
    port = s.slice(i + 1);
  }
  if (!/^[0-9]{1,5}$/.test(port) || Number(port) > 65535) return undefined;
  const ip = canonicalIp(host, true);
  if (ip === undefined) return undefined;
  return isIP(ip) === 6 ? `[${ip}]:${Number(port)}` : `${ip}:${Number(port)}`;
}
