// The grpc-js picker's config reader refuses what grpc-go's reader refuses
// (clients/go/shardpicker/config_test.go TestParseConfigRejects, TestCanonicalAddr), naming the field.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { readShardPickerConfig } from '../../src/grpc/read-config.js';
import { canonicalAddress } from '../../src/grpc/endpoint-address.js';
import { parseShardPickerConfig } from '../../src/grpc/index.js';
import { encodeOwners, type ShardPickerConfig } from '../../src/core/shard-picker.js';
import { KeywayError } from '../../src/core/errors.js';
import { MAX_SHARD_COUNT } from '../../src/core/limits.js';

const base: ShardPickerConfig = {
  shardCount: 2,
  shardHeader: 'x-cache-shard',
  keyHeader: '',
  missingHeader: 'any',
  endpoints: ['10.0.0.1:8000', '10.0.0.2:8000'],
  owners: encodeOwners([[0, 1], [1, 0]], 2),
};

function refused(patch: Record<string, unknown>, field: string): void {
  assert.throws(
    () => readShardPickerConfig({ ...base, ...patch }),
    (e: unknown) => e instanceof KeywayError && e.code === 'BAD_ARGUMENT' && e.location.field === `keyway.shard_picker.${field}` && e.message.includes(field),
    `${JSON.stringify(patch)} refused at ${field}`,
  );
}

test('a version other than 1 is refused, as grpc-go refuses it; 1 and none are version 1', () => {
  for (const version of [2, 0, 1.5, '1', true, [1], {}]) refused({ version }, 'version');
  assert.deepEqual(readShardPickerConfig({ ...base, version: 1 }).endpoints, base.endpoints);
  assert.deepEqual(readShardPickerConfig({ ...base, version: null }).endpoints, base.endpoints);
});

test('shardCount has keyway\'s maximum (1048576), as grpc-go\'s MaxShards', () => {
  refused({ shardCount: MAX_SHARD_COUNT + 1, owners: '' }, 'shardCount');
  refused({ shardCount: 2 ** 53, owners: '' }, 'shardCount');
  assert.throws(() => readShardPickerConfig({ ...base, shardCount: MAX_SHARD_COUNT + 1, owners: '' }), /from 1 to 1048576, got 1048577/);
  assert.equal(readShardPickerConfig({ ...base, shardCount: MAX_SHARD_COUNT, owners: '' }).shardCount, MAX_SHARD_COUNT);
});

test('two endpoints naming one socket are refused, however they are spelled', () => {
  refused({ endpoints: ['10.0.0.1:8000', '10.0.0.1:8000'] }, 'endpoints[1]');
  refused({ endpoints: ['[2001:db8::1]:80', '[2001:DB8:0::1]:80'] }, 'endpoints[1]');
  refused({ endpoints: ['10.0.0.1:80', '[::ffff:10.0.0.1]:80'] }, 'endpoints[1]');
  refused({ endpoints: ['10.0.0.1:80', '10.0.0.1:080'] }, 'endpoints[1]');
  assert.throws(() => readShardPickerConfig({ ...base, endpoints: ['10.0.0.1:8000', '10.0.0.1:8000'] }), /"10\.0\.0\.1:8000" is the same socket as endpoints\[0\]/);
});

test('an endpoint that is not ip:port is refused by its index', () => {
  refused({ endpoints: ['10.0.0.1:8000', 'cache-2:8000'] }, 'endpoints[1]');
  refused({ endpoints: ['10.0.0.1', '10.0.0.2:8000'] }, 'endpoints[0]');
  refused({ endpoints: ['10.0.0.1:70000', '10.0.0.2:8000'] }, 'endpoints[0]');
  refused({ endpoints: ['[fe80::1%eth0]:80', '10.0.0.2:8000'] }, 'endpoints[0]');
  refused({ endpoints: ['10.0.0.1:8000', '127.000.0.1:8000'] }, 'endpoints[1]');
});

test('owners must be standard padded base64, as Go\'s base64.StdEncoding reads it', () => {
  refused({ owners: '!!' }, 'owners');
  refused({ owners: 'AAEAAQAAAA' }, 'owners'); // unpadded
  refused({ owners: 'AAEA-_AAAA==' }, 'owners'); // URL-safe alphabet
  refused({ owners: 'AAEA AQAAAA==' }, 'owners');
  const wrapped = `${base.owners.slice(0, 4)}\n${base.owners.slice(4)}`;
  assert.equal(readShardPickerConfig({ ...base, owners: wrapped }).owners, wrapped, 'line breaks are skipped, as Go skips them');
});

test('the contract checks of src/core still apply, and keyway/grpc exports this reader', () => {
  refused({ shardCount: 0 }, 'shardCount');
  refused({ missingHeader: 'drop' }, 'missingHeader');
  refused({ owners: encodeOwners([[0, 1], [1, 2]], 2) }, 'owners');
  assert.equal(parseShardPickerConfig, readShardPickerConfig);
  assert.deepEqual(readShardPickerConfig({ ...base, somethingNewer: { x: 1 } }).endpoints, base.endpoints, 'unknown fields are ignored');
});

test('canonicalAddress spells a socket as grpc-go\'s canonicalAddr does', () => {
  const cases: Record<string, string | undefined> = {
    '10.0.0.1:8000': '10.0.0.1:8000',
    '[::1]:8000': '[::1]:8000',
    '::1:8000': '[::1]:8000',
    'fd00:0::3:80': '[fd00::3]:80',
    '[fd00:0:0::3]:80': '[fd00::3]:80',
    '127.000.0.1:8000': undefined,
    '10.0.0.1:70000': undefined,
    'localhost:8000': undefined,
    '10.0.0.1': undefined,
    '[10.0.0.1]:8000': '10.0.0.1:8000',
    '::ffff:10.0.0.1:80': '10.0.0.1:80',
    '10.0.0.1:': undefined,
    '10.0.0.1:+80': undefined,
  };
  for (const [input, want] of Object.entries(cases)) assert.equal(canonicalAddress(input), want, input);
});

test('every picker config keyway writes (the golden files) passes the reader', () => {
  const dir = 'testdata/golden';
  const files = readdirSync(dir).map((d) => join(dir, d, 'grpc-picker.json')).filter((f) => existsSync(f));
  assert.ok(files.length > 0);
  for (const file of files) {
    const set = JSON.parse(readFileSync(file, 'utf8')) as { cluster: { loadBalancingPolicy: { policies: { typedExtensionConfig: { typedConfig: { value?: unknown } } }[] } }[] };
    const value = set.cluster[0]!.loadBalancingPolicy.policies[0]!.typedExtensionConfig.typedConfig.value;
    assert.doesNotThrow(() => readShardPickerConfig(value), file);
  }
});

test('the largest tables are read: owners of S = 2^20 shards at R = 3 (8 MiB of base64) is a config, not a RangeError', () => {
  const shardCount = MAX_SHARD_COUNT;
  const replicas = 3;
  const bytes = Buffer.alloc(shardCount * replicas * 2);
  for (let i = 0; i < shardCount * replicas; i++) bytes.writeUInt16LE(i % 2, i * 2);
  const config = readShardPickerConfig({ ...base, shardCount, owners: bytes.toString('base64') });
  assert.equal(config.shardCount, shardCount);
  // And an owners string that size with one stray character is still refused by name.
  refused({ shardCount, owners: `${bytes.toString('base64').slice(0, -4)}AA=A` }, 'owners');
});
