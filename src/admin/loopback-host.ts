/**
 * DNS rebinding (docs/security.md "The admin API"): a REST API that listens on loopback only, with
 * no token, is reachable from a web page in the operator's browser once that page's name resolves
 * to 127.0.0.1, and the browser then lets the page read the answers (the shard map, every proxy's
 * configuration) as its own origin's. The page cannot change the Host header it sends, which names
 * the attacker's domain; so while keyway listens on loopback, a request must name a loopback host.
 */
import { isIP } from 'node:net';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { errorBody, type RequestGuard } from './error-body.js';

/** Whether `host` (an address or a name to bind) is a loopback one: 127.0.0.0/8, ::1, localhost. */
export function isLoopbackHost(host: string): boolean {
  const h = host.replace(/^\[(.*)\]$/, '$1').toLowerCase();
  if (h === 'localhost' || h.endsWith('.localhost')) return true;
  if (isIP(h) === 4) return h.startsWith('127.');
  if (isIP(h) === 6) return h === '::1' || /^(0{0,4}:){7}0{0,3}1$/.test(h) || /^::ffff:127\./.test(h);
  return false;
}

/** The host part of a Host header value (`[::1]:8080` -> `[::1]`, `localhost:8080` -> `localhost`). */
function hostOf(header: string): string {
  return header.startsWith('[') ? header.slice(0, header.indexOf(']') + 1) : header.replace(/:\d*$/, '');
}

/**
 * Refuses (403, BAD_ARGUMENT; not 421, which browsers send again once) a request whose Host
 * header does not name a loopback host. A request without Host (HTTP/1.0; browsers always send
 * one) passes.
 */
export function loopbackHostGuard(): RequestGuard {
  return (request: FastifyRequest, reply: FastifyReply): boolean => {
    const header = request.raw.headers.host;
    if (header === undefined || isLoopbackHost(hostOf(header))) return false;
    const message =
      `Host ${JSON.stringify(header.slice(0, 200))} is not a loopback name, and this REST API listens on loopback only: ` +
      'use 127.0.0.1 or localhost (a page whose name resolves to 127.0.0.1 must not read it), or set --admin-host';
    void reply.code(403).send(errorBody('BAD_ARGUMENT', message, 'Host'));
    return true;
  };
}
