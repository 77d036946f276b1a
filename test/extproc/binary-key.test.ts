/**
 * The endpoint picker with a key header named `*-bin` (gRPC binary metadata): Envoy hands over the
 * base64 text gRPC puts on the wire (padded by grpc-js, unpadded by grpc-go); the picker hashes the
 * decoded bytes, as the shard pickers do (docs/hashing.md), so a key goes to one shard whichever
 * client or path it takes. e2e/binary-key-header.test.ts checks the same through real Envoy.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Metadata } from '@grpc/grpc-js';
import { DEFAULT_XDS_SETTINGS } from '../../src/core/settings.js';
import type { ServingView } from '../../src/core/serving.js';
import { pickEndpoints, pickTable, type HeaderText } from '../../src/extproc/index.js';
import { chooseShard } from '../../src/grpc/shard-choice.js';
import { keyBytesToShard } from '../../src/sharding/index.js';
import { fourNodeView } from './three-nodes.js';

const S = 1024;
const KEY_HEADER = 'x-cache-key-bin';

const view = (): ServingView => fourNodeView(S, 2, KEY_HEADER);

const table = pickTable(view());
const one = (value: HeaderText) => (name: string) => (name === KEY_HEADER ? [value] : undefined);
const shardOf = (value: HeaderText): number | string => {
  const d = pickEndpoints(table, one(value), undefined);
  return d.kind === 'route' ? d.shard! : d.message;
};

/** The wire text grpc-js writes for binary metadata. */
function grpcJsWire(key: Buffer): string {
  const md = new Metadata();
  md.set(KEY_HEADER, key);
  return String(md.toHttp2Headers()[KEY_HEADER]);
}

const KEYS = ['', 'a', 'ab', 'abc', 'user:1000', '{user1000}.following', 'кэш'].map((s) => Buffer.from(s, 'utf8'))
  .concat([Buffer.from([0x63, 0xe9, 0x66]), Buffer.from([0xff, 0xfe, 0x41, 0x00]), Buffer.from([0x7b, 0x80, 0x7d, 0x31])]);

test('a -bin key is hashed over its decoded bytes, padded or not, as text or raw bytes, as the shard picker hashes it', () => {
  const config = { shardCount: S, shardHeader: 'x-cache-shard', keyHeader: KEY_HEADER, missingHeader: 'any' } as never;
  for (const key of KEYS) {
    const want = keyBytesToShard(key, S);
    assert.deepEqual(chooseShard(config, (name) => (name === KEY_HEADER ? [key] : undefined)), { kind: 'shard', shard: want });
    const padded = grpcJsWire(key);
    const unpadded = key.toString('base64').replace(/=+$/, '');
    for (const wire of [padded, unpadded, Buffer.from(padded, 'latin1'), Buffer.from(unpadded, 'latin1')]) {
      assert.equal(shardOf(wire), want, `${key.toString('hex')} as ${String(wire)}`);
    }
  }
});

test('a -bin key header that is not base64 is a 400 naming it; one that is, sent twice, is refused as before', () => {
  for (const bad of ['a', 'ab=', 'abcde', 'a b', ' YQ==', 'YQ== ', 'YW*=', 'YQ-_', '====', '=', 'YQ==YQ==', 'YQ,Yg', 'YQ=a']) {
    assert.equal(shardOf(bad), `${KEY_HEADER} must be base64 (gRPC binary metadata)\n`, JSON.stringify(bad));
  }
  const twice = pickEndpoints(table, (name) => (name === KEY_HEADER ? ['YQ', 'YQ'] : undefined), undefined);
  assert.deepEqual(twice, { kind: 'bad-request', status: 400, message: `${KEY_HEADER} must be sent once\n` });
});

test('a key header not named -bin is still hashed as its text, base64-looking or not', () => {
  const plain = pickTable({ ...view(), topology: { ...view().topology, xds: DEFAULT_XDS_SETTINGS } });
  const d = pickEndpoints(plain, (name) => (name === 'x-cache-key' ? ['YQ=='] : undefined), undefined);
  assert.equal(d.kind === 'route' ? d.shard : undefined, keyBytesToShard(Buffer.from('YQ=='), S));
});
