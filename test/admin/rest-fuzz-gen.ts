/**
 * Random and mutated REST requests for the fuzz test (rest-fuzz.test.ts): every route of the
 * OpenAPI document, and some that are not, with hostile paths, query strings, methods, headers and
 * bodies. Deterministic per (seed, index), so one failing case can be replayed alone.
 */
import { utf8Bytes } from './rest-fuzz-client.js';

import { Rng } from '../support/seeded-random.js';

export { Rng };

/** What the generator knows of the server under test. */
export interface FuzzTarget {
  /** OpenAPI paths (`/v1/shards/{shard}`) and the query parameters each declares. */
  readonly routes: readonly { readonly path: string; readonly query: readonly string[] }[];
  readonly token: string;
  /** The current ETag of `/v1/shardmap`, so If-None-Match sometimes names it. */
  readonly etag: string;
  /** Ids that exist (endpoints, proxies), so some requests hit, not only miss. */
  readonly ids: readonly string[];
}

/** One request as written to the socket (a binary string), and what the oracle needs to know of it. */
export interface FuzzRequest {
  readonly method: string;
  readonly target: string;
  /** The request carries the admin token in a form the server must accept. */
  readonly authorized: boolean;
  readonly wire: string;
}

const METHODS = ['GET', 'GET', 'GET', 'GET', 'GET', 'GET', 'GET', 'GET', 'GET', 'GET', 'HEAD', 'HEAD', 'POST', 'PUT', 'DELETE', 'OPTIONS', 'PATCH', 'TRACE', 'get', 'PROPFIND', 'SEARCH', 'BREW'];
const UNKNOWN_PATHS = ['/v1', '/v1/', '/debug', '/debug/', '/v1/nothing', '/debug/nothing', '/nope', '/web/', '/web/../v1/shardmap', '/v1/shards', '/v1/shards/', '/', '*', '/openapi.json/'];
const PARAM_NAMES = ['key', 'node', 'names', 'proxy', 'x', '', '__proto__', 'constructor', 'toString', 'key[]', 'names[0]', 'a.b'];

/** A query or path value that tends to break things. */
function value(rng: Rng, ids: readonly string[]): string {
  switch (rng.int(16)) {
    case 0:
      return '';
    case 1:
      return rng.pick(ids);
    case 2:
      // Numbers out of range or in other spellings.
      return rng.pick(['-1', '0', '5', '1023', '1024', '100000', '100001', '1e3', '0x10', '%205', '5%20', '+5', '05', '1.0', 'NaN', 'Infinity', '9'.repeat(25), '1'.repeat(101), '%D9%A3', '%EF%BC%95']);
    case 3:
      // Unicode, percent-encoded as a client should.
      return encodeURIComponent(rng.pick(['ключ', '😀', '\u0000', 'a\u0301', '\ufeff', '{tag}', 'user:{42}:emb', '\u202e', ' ']));
    case 4:
      // Unicode as raw UTF-8 bytes on the wire (Node's parser refuses most).
      return rng.chance(0.3) ? utf8Bytes(rng.pick(['ключ', '😀', 'é', '\u2028'])) : '';
    case 5:
      // Percent-encoding junk.
      return rng.pick(['%', '%Z', '%ZZ', '%E0%A4%A', '%C0%AF', '%FF', '%00', '%25', '%2525', '%%', '%u0041', '%2F', '%3F', '%23', '%26', '%3D']);
    case 6:
      return 'x'.repeat(rng.pick([100, 1000, 8000, 20000]));
    case 7: {
      // Printable ASCII, mostly encoded as a client should (Node's parser refuses `"`, `<`, `{` ...).
      const text = Array.from({ length: rng.int(20) }, () => String.fromCharCode(33 + rng.int(94))).join('');
      return rng.chance(0.7) ? encodeURIComponent(text) : text.replace(/[#?& ]/g, '');
    }
    default:
      return rng.pick(['a', 'gpu-a1', 'envoy-1', 'k', '1', 'true']);
  }
}

function query(rng: Rng, names: readonly string[], ids: readonly string[]): string {
  if (rng.chance(0.15)) return rng.pick(['', '?', '??', '?&', '?=', '?&&&', '?#x', `?${'&'.repeat(500)}`]);
  const parts: string[] = [];
  const one = (name: string): string => (rng.chance(0.1) ? name : `${name}=${rng.chance(0.5) ? rng.pick(ids) : value(rng, ids)}`);
  // The route's own parameters, mostly once (so requests reach the handlers), sometimes repeated:
  // an array where a scalar is expected.
  for (const name of names) {
    if (rng.chance(0.8)) parts.push(one(name));
    if (rng.chance(0.1)) parts.push(one(name));
  }
  for (let i = 0, n = rng.int(4); i < n; i++) parts.splice(rng.int(parts.length + 1), 0, one(rng.pick(PARAM_NAMES)));
  return parts.length === 0 && rng.chance(0.5) ? '' : `?${parts.join('&')}`;
}

/** The path of `route` with its parameter filled, then mutated 0 to 2 times. */
function path(rng: Rng, route: string, ids: readonly string[]): string {
  // A shard number, one past the last, one past the parameter length limit (414), or anything.
  let p = route.replace(/\{[^}]+\}/g, () => (rng.chance(0.6) ? rng.pick(['5', '0', '1023', '1024', '007', '1'.repeat(101), '9'.repeat(300)]) : value(rng, ids)));
  for (let i = 0, n = rng.pick([0, 0, 0, 0, 1, 1, 2]); i < n; i++) p = mutatePath(rng, p);
  return p;
}

function mutatePath(rng: Rng, p: string): string {
  const at = rng.int(p.length + 1);
  switch (rng.int(16)) {
    case 0:
      return `${p}/`;
    case 1:
      return p.replace(/\//, '//');
    case 2:
      return `${p.slice(0, at)}/${p.slice(at)}`;
    case 3: {
      // Upper case, anywhere.
      const i = rng.int(p.length);
      return p.slice(0, i) + p.charAt(i).toUpperCase() + p.slice(i + 1);
    }
    case 4: {
      // One character percent-encoded (an unreserved one decodes to the same route).
      const i = 1 + rng.int(Math.max(1, p.length - 1));
      const hex = p.charCodeAt(i).toString(16).padStart(2, '0');
      return i < p.length ? `${p.slice(0, i)}%${rng.chance(0.5) ? hex : hex.toUpperCase()}${p.slice(i + 1)}` : p;
    }
    case 5:
      return p.replace(/\/(?=[^/]*$)/, rng.pick(['%2F', '%2f', '%5C', '\\']));
    case 6:
      return p.replace(/\//, rng.pick(['/./', '/x/../', '/../', '/%2e/', '/%2E%2E/', '/.%2e/']));
    case 7:
      return `${p}${rng.pick(['/..', '/.', '/../..', '/%2e%2e'])}`;
    case 8:
      // Absolute-form request target (RFC 9112 §3.2.2).
      return `${rng.pick(['http://h', 'HTTP://h:80', 'https://h', 'http://u@h', 'http://h?', 'ftp://h', 'http://'])}${p}`;
    case 9:
      return `${p}${rng.pick(['#frag', ';x', ';', '#', '?#'])}`;
    case 10:
      // A very long path, inside or past the header limit.
      return `${p.slice(0, at)}${'/a'.repeat(rng.pick([100, 2000, 9000]))}${p.slice(at)}`;
    case 11:
      return `${p.slice(0, at)}${rng.pick(['%00', '%ZZ', '%', '%C0%AF', '%E2%80%AE'])}${p.slice(at)}`;
    case 12:
      return `${p.slice(0, at)}${utf8Bytes(rng.pick(['é', '😀', 'ѵ']))}${p.slice(at)}`;
    case 13:
      return p.replace(/^\//, rng.pick(['*', '', '//', '/%2F', '/%2f/']));
    case 14:
      return p.replace(/[a-z]/, (c) => `%${c.charCodeAt(0).toString(16)}`);
    default:
      return `${p}${rng.pick(['%20', ' ', '\t', '%09', '.', '~'])}`;
  }
}

function authorization(rng: Rng, token: string): { lines: string[]; authorized: boolean } {
  switch (rng.int(12)) {
    case 0:
    case 1:
    case 2:
      return { lines: [`Authorization: Bearer ${token}`], authorized: true };
    case 3:
      return { lines: [`Authorization: ${rng.pick(['bearer', 'BEARER', 'Bearer\t', 'Bearer  '])} ${token}${rng.pick(['', ' ', '\t'])}`], authorized: true };
    case 4:
      return { lines: [`Authorization: ${rng.pick(['Bearer', 'Bearer ', `Basic ${token}`, token, `Bearer ${token}x`, `Bearer ${token} x`, `Bearer ${token.toUpperCase()}`, `Bearer "${token}"`, `Bearer ${'t'.repeat(4000)}`])}`], authorized: false };
    case 5:
      return { lines: [`Authorization: Bearer ${String.fromCharCode(0xe9, 0xff)}${token}`], authorized: false };
    case 6:
      // Node keeps the first of duplicate Authorization headers.
      return { lines: ['Authorization: Bearer wrong', `Authorization: Bearer ${token}`], authorized: false };
    case 7:
      return { lines: [`authorization: Bearer ${token}`, 'Authorization: Bearer wrong'], authorized: true };
    default:
      return { lines: [], authorized: false };
  }
}

function headers(rng: Rng, t: FuzzTarget): string[] {
  const out: string[] = [];
  if (rng.chance(0.5)) out.push(`Accept: ${rng.pick(['*/*', 'application/json', 'text/html', 'application/xml', '', 'garbage;;;q=x', 'application/json;q=0', 'x/'.repeat(500)])}`);
  if (rng.chance(0.5)) {
    const many = Array.from({ length: rng.pick([2, 50, 600]) }, (_, i) => (i % 7 === 3 ? t.etag : `"${i}"`)).join(', ');
    out.push(`If-None-Match: ${rng.pick(['*', t.etag, t.etag, `W/${t.etag}`, t.etag.slice(1, -1), '"', ',,,', 'W/', many, many, `${t.etag}, *`, ''])}`);
  }
  if (rng.chance(0.1)) out.push(rng.pick(['Expect: 100-continue', 'Upgrade: h2c', 'X-Forwarded-Host: evil', 'Range: bytes=0-10', 'If-Modified-Since: junk', 'Cookie: a=b', 'Origin: http://evil']));
  if (rng.chance(0.02)) out.push(`X-Big: ${'b'.repeat(17 * 1024)}`);
  return out;
}

function body(rng: Rng): { lines: string[]; body: string } {
  if (!rng.chance(0.2)) return { lines: [], body: '' };
  const [type, text] = rng.pick([
    ['application/json', '{}'],
    ['application/json', '{"key": "a"}'],
    ['application/json', '{x'],
    ['application/json; charset=latin1', '[]'],
    ['text/plain', 'hello'],
    ['multipart/form-data; boundary=x', '--x\r\njunk'],
    ['application/x-www-form-urlencoded', 'key=a'],
    [';;;', 'z'],
    ['application/json', `{"a":${'['.repeat(5000)}`],
  ] as const);
  const lines = [`Content-Type: ${type}`];
  switch (rng.int(5)) {
    case 0:
      // Chunked.
      return { lines: [...lines, 'Transfer-Encoding: chunked'], body: `${text.length.toString(16)}\r\n${text}\r\n0\r\n\r\n` };
    case 1:
      // Announced past the body limit, not sent.
      return { lines: [...lines, 'Content-Length: 2000000'], body: '' };
    default:
      return { lines: [...lines, `Content-Length: ${Buffer.byteLength(text, 'latin1')}`], body: text };
  }
}

/** Request number `index` of the campaign of `seed`. */
export function fuzzRequest(seed: number, index: number, t: FuzzTarget): FuzzRequest {
  const rng = new Rng((seed * 0x9e3779b1) ^ (index + 1));
  const method = rng.pick(METHODS);
  const route = rng.chance(0.9) ? rng.pick(t.routes) : { path: rng.pick(UNKNOWN_PATHS), query: [] };
  const target = `${path(rng, route.path, t.ids)}${query(rng, route.query, t.ids)}`;
  const version = rng.chance(0.95) ? 'HTTP/1.1' : rng.pick(['HTTP/1.0', 'HTTP/2.0', 'HTTP/1.2', 'http/1.1']);
  const lines: string[] = [];
  const host = rng.int(40);
  if (host > 1) lines.push('Host: 127.0.0.1');
  if (host === 1) lines.push('Host: localhost', 'Host: b');
  const auth = authorization(rng, t.token);
  lines.push(...auth.lines, ...headers(rng, t));
  const b = body(rng);
  lines.push(...b.lines, 'Connection: close');
  const wire = `${method} ${target} ${version}\r\n${lines.map((l) => `${l}\r\n`).join('')}\r\n${b.body}`;
  return { method, target, authorized: auth.authorized, wire };
}
