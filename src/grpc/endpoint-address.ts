/**
 * One spelling per socket for the picker's endpoints, the one grpc-go's picker uses
 * (clients/go/shardpicker canonicalAddr: net.JoinHostPort(net.ParseIP(host).String(), port)), so
 * both pickers accept, refuse and match the same `endpoints` entries.
 */
import { isIP } from 'node:net';

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
  const ip = canonicalIp(host);
  if (ip === undefined) return undefined;
  return isIP(ip) === 6 ? `[${ip}]:${Number(port)}` : `${ip}:${Number(port)}`;
}

function canonicalIp(host: string): string | undefined {
  const family = isIP(host);
  if (family === 4) return host;
  // Go's ParseIP takes no zone (`fe80::1%eth0`), and neither does the URL parser below.
  if (family !== 6 || host.includes('%')) return undefined;
  let ip: string;
  try {
    ip = new URL(`http://[${host}]/`).hostname.slice(1, -1);
  } catch {
    return undefined;
  }
  const mapped = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(ip);
  if (!mapped) return ip;
  const hi = parseInt(mapped[1]!, 16);
  const lo = parseInt(mapped[2]!, 16);
  return `${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`;
}
