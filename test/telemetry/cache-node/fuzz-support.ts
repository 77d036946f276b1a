/**
 * What the cache node's fuzz tests share: a stand-in for keyway's REST shard map (so the node
 * knows S and checks key/shard pairs), and the generator of hostile HTTP/1.x requests.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { keyToShard } from '../../../src/sharding/index.js';
import type { Rng } from '../../support/seeded-random.js';
import { BinaryWriter, WireType } from '@bufbuild/protobuf/wire';

export const S = 64;
export const NODE = 'f0';

/** A REST shard map of S shards over three nodes; NODE leads the even shards. */
export async function fakeKeyway(t: { after(fn: () => Promise<void>): void }): Promise<string> {
  const body = JSON.stringify({
    version: 'fuzz-1',
    shardCount: S,
    shards: Array.from({ length: S }, (_, shard) => ({ shard, owners: shard % 2 === 0 ? [NODE, 'f1'] : ['f1', 'f2'] })),
    endpoints: [{ id: NODE, locality: { region: 'r', zone: 'z', subzone: 'f' } }],
  });
  const server = http.createServer((_req, res) => res.writeHead(200, { 'content-type': 'application/json', etag: '"fuzz-1"' }).end(body));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/** A key as a client might send it: text, tags, escapes (some broken), raw high bytes, some long. */
export function keyText(rng: Rng): string {
  const parts = ['user:', 'a', 'Z9', '{tag}', '{', '}', '..', '.', '/', '//', '\\', '%20', '%2F', '%25', '%', '%G1', '%C3%A9', '%ED%A0%80', '%FF', '%00', '%E2%82', '~', '!', '$', '+', ',', ';', '=', '@', "'", '(', ')', '*'];
  let s = '';
  const n = rng.chance(0.05) ? 2_000 + rng.int(8_000) : rng.int(12);
  while (s.length < n) s += rng.chance(0.1) ? String.fromCharCode(0x80 + rng.int(0x80)) : rng.pick(parts);
  return s;
}

/** An `x-cache-shard` value: right, wrong, out of range or not a number. */
function shardValue(rng: Rng, key: string): string {
  return rng.pick([
    String(keyToShard(key, S)),
    String(keyToShard(key, S)),
    String((keyToShard(key, S) + 1) % S),
    String(S),
    '-1',
    '99999999999',
    '4294967296',
    '2147483648',
    ` ${keyToShard(key, S)} `,
    '7, 8',
    '',
    'abc',
    '0x10',
    '1e3',
    '\xd9\xa3',
    String(rng.int(S)),
  ]);
}

/** One request as bytes (latin1), most of them well framed, some not. */
export function request(rng: Rng): Buffer {
  const method = rng.chance(0.7) ? 'GET' : rng.pick(['HEAD', 'POST', 'PUT', 'DELETE', 'OPTIONS', 'PATCH', 'get', 'FOO', 'CONNECT', 'TRACE', 'G T']);
  const version = rng.chance(0.85) ? 'HTTP/1.1' : rng.pick(['HTTP/1.0', 'HTTP/2.0', 'HTTP/1.2', 'http/1.1', 'HTTP/0.9', '']);
  const key = keyText(rng);
  const target = rng.pick([
    `/kv/${key}`,
    `/kv/${key}`,
    `/kv/${key}?q=${keyText(rng)}`,
    `/${key}`,
    '/kv/',
    '/kv',
    '/healthz',
    '/metrics',
    '/v1/ownership',
    `/v1/warm?shard=${rng.pick(['0', '1', String(S), '-1', 'x', ''])}&limit=${rng.pick(['1', '0', '100000', '100001', 'z'])}`,
    `/v1/drain?timeoutMs=${rng.pick(['0', '1', '20', 'x', '600001', '-5'])}`,
    '*',
    `http://node/kv/${key}`,
    `http://node:1/healthz`,
    `//kv/${key}`,
    `/kv/${key} junk`,
    `/kv/\x01${key}`,
  ]);
  const lines = [`${method} ${target} ${version}`.trimEnd()];
  if (version !== 'HTTP/1.0' || rng.chance(0.5)) {
    if (rng.chance(0.93)) lines.push(`Host: ${rng.pick(['node', 'node:80', '127.0.0.1', '', 'a b'])}`);
  }
  for (let i = rng.chance(0.5) ? 1 + rng.int(3) : 0; i > 0; i--) lines.push(`X-Cache-Shard: ${shardValue(rng, key)}`);
  for (let i = rng.chance(0.4) ? 1 + rng.int(3) : 0; i > 0; i--) lines.push(`x-cache-key: ${rng.chance(0.5) ? key : keyText(rng)}`);
  if (rng.chance(0.05)) lines.push(`x-junk: ${'j'.repeat(rng.int(20_000))}`);
  let body = '';
  const framing = rng.int(10);
  if (framing === 0) {
    body = 'x'.repeat(rng.int(3_000));
    lines.push(`Content-Length: ${body.length}`);
  } else if (framing === 1) {
    const data = 'y'.repeat(rng.int(100));
    lines.push('Transfer-Encoding: chunked');
    body = `${data.length.toString(16)}\r\n${data}\r\n0\r\n\r\n`;
  } else if (framing === 2) {
    // Conflicting framing (a smuggling attempt): the server must refuse, not guess.
    lines.push('Content-Length: 3', 'Transfer-Encoding: chunked');
    body = '0\r\n\r\n';
  } else if (framing === 3) {
    lines.push(`Content-Length: ${rng.pick(['abc', '-1', '5, 6', '99999999999999999999'])}`);
  } else if (framing === 4) {
    body = 'zz';
    lines.push('Content-Length: 10'); // shorter than said: the server waits, then sees the end
  }
  if (rng.chance(0.1)) lines.push(`Connection: ${rng.pick(['close', 'keep-alive', 'upgrade'])}`);
  if (rng.chance(0.03)) lines.push('Expect: 100-continue');
  return Buffer.from(`${lines.join('\r\n')}\r\n\r\n${body}`, 'latin1');
}

/** Splits `bytes` into 1 to 6 pieces at random points (a slow or fragmenting client). */
export function fragments(rng: Rng, bytes: Buffer): Buffer[] {
  const cuts = [...new Set(Array.from({ length: rng.int(6) }, () => rng.int(bytes.length)))].sort((a, b) => a - b);
  const out: Buffer[] = [];
  let at = 0;
  for (const cut of [...cuts, bytes.length]) {
    if (cut > at) out.push(bytes.subarray(at, cut));
    at = cut;
  }
  return out;
}

/** The cache node's GetRequest { string key = 1 }, encoded by hand so a test can also send what is not one. */
export function getRequestBytes(key: string): Buffer {
  return Buffer.from(new BinaryWriter().tag(1, WireType.LengthDelimited).string(key).finish());
}
