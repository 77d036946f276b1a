/**
 * DNS rebinding (docs/security.md "The admin API"): a REST API that listens on loopback only, with
 * no token, is reachable from a web page in the operator's browser once that page's name resolves
 * to 127.0.0.1, and the browser then lets the page read the answers (the shard map, every proxy's
 * configuration) as its own origin's. The page cannot change the Host header it sends, which names
 * the attacker's domain; so while keyway listens on loopback, a request must name a loopback host.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Server } from 'node:http';
import { canonicalIp } from '../core/ip-address.js';
import { errorBody, type RequestGuard } from './error-body.js';

/**
 * Whether `host` (an address or a name to bind) is a loopback one: 127.0.0.0/8, ::1 and
 * ::ffff:127.0.0.0/104 in any spelling, localhost and names under it, with or without the root's
 * trailing dot (`localhost.`; RFC 6761 keeps them all on loopback). An IPv6 zone is refused.
 */
export function isLoopbackHost(host: string): boolean {
  const h = host.replace(/^\[(.*)\]$/, '$1').toLowerCase();
  const name = h.endsWith('.') ? h.slice(0, -1) : h;
  if (name === 'localhost' || name.endsWith('.localhost')) return true;
  // Browsers send an address in their own spelling (`[::ffff:7f00:1]` for ::ffff:127.0.0.1).
  const ip = canonicalIp(h, true);
  return ip !== undefined && (ip === '::1' || /^127\./.test(ip));
}

/**
 * The host part of a Host header value (`[::1]:8080` -> `[::1]`, `localhost:8080` -> `localhost`);
 * after the host only a port may follow, so `[::1]evil.example` is read whole (not loopback).
 */
function hostOf(header: string): string {
  const m = /^(\[[^\]]*\]|[^:[\]]*)(?::\d*)?$/.exec(header);
  return m ? m[1]! : header;
}

/**
 * Refuses (403, BAD_ARGUMENT; not 421, which browsers send again once) a request whose Host
 * header does not name a loopback host, while `active()` (default: always). A request without Host
 * (HTTP/1.0; browsers always send one) passes.
 */
export function loopbackHostGuard(active: () => boolean = () => true): RequestGuard {
  return (request: FastifyRequest, reply: FastifyReply): boolean => {
    const header = request.raw.headers.host;
    if (header === undefined || !active() || isLoopbackHost(hostOf(header))) return false;
    const message =
      `Host ${JSON.stringify(header.slice(0, 200))} is not a loopback name, and this REST API listens on loopback only: ` +
      'use 127.0.0.1 or localhost (a page whose name resolves to 127.0.0.1 must not read it), or set --admin-host';
    void reply.code(403).send(errorBody('BAD_ARGUMENT', message, 'Host'));
    return true;
  };
}

/**
 * Whether `server` listens on a loopback address. The address bound decides, not the name asked
 * for: `--admin-host` given a name (the machine's own, which /etc/hosts often maps to 127.0.1.1) or
 * an IPv4 shorthand (`127.1`) binds loopback too. False before it listens.
 */
export function listensOnLoopback(server: Server): boolean {
  const address = server.address();
  return address !== null && typeof address === 'object' && isLoopbackHost(address.address);
}
