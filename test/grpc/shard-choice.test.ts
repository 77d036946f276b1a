// The shard picker's pick rules (docs/xds.md "The shard picker"): shard header, then the key
// header hashed by contract 1, then missingHeader; owners in rank order by connectivity.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { chooseOwner, chooseShard, type OwnerState } from '../../src/grpc/shard-choice.js';
import { decodeOwners, encodeOwners, NO_OWNER, parseShardPickerConfig, type ShardPickerConfig } from '../../src/core/shard-picker.js';
import { KeywayError } from '../../src/core/errors.js';

const base: ShardPickerConfig = {
  shardCount: 1024,
  shardHeader: 'x-cache-shard',
  keyHeader: 'x-cache-key',
  missingHeader: 'reject',
  endpoints: ['10.0.0.1:80', '10.0.0.2:80', '10.0.0.3:80'],
  owners: encodeOwners(Array.from({ length: 1024 }, (_, s) => [s % 3, (s + 1) % 3]), 2),
};
const headers = (h: Record<string, string>) => (name: string): string | undefined => h[name];

test('the shard header wins, as a decimal shard in [0, S)', () => {
  assert.deepEqual(chooseShard(base, headers({ 'x-cache-shard': '1023', 'x-cache-key': 'k' })), { kind: 'shard', shard: 1023 });
  for (const bad of ['1024', '-1', '1.5', ' 3', '', 'abc', '99999999999', '007', '00', '+3']) {
    const c = chooseShard(base, headers({ 'x-cache-shard': bad }));
    assert.equal(c.kind, 'invalid', bad);
    assert.match((c as { message: string }).message, /x-cache-shard/);
  }
});

test('a shard or key header sent more than once is refused, as Envoy and the endpoint picker refuse it', () => {
  const many = (h: Record<string, string[]>) => (name: string): readonly string[] | undefined => h[name];
  assert.deepEqual(chooseShard(base, many({ 'x-cache-shard': ['7'] })), { kind: 'shard', shard: 7 });
  assert.deepEqual(chooseShard(base, many({ 'x-cache-shard': ['7', '8'] })), { kind: 'invalid', message: 'x-cache-shard must be sent once, got 2 values' });
  assert.deepEqual(chooseShard(base, many({ 'x-cache-key': ['a', 'b'] })), { kind: 'invalid', message: 'x-cache-key must be sent once, got 2 values' });
  assert.deepEqual(chooseShard({ ...base, missingHeader: 'any' }, many({ 'x-cache-shard': [] })), { kind: 'any' }, 'no value is no header');
});

test('the key header is hashed by contract 1 (every key-to-shard vector)', () => {
  const { vectors } = JSON.parse(readFileSync('testdata/vectors/key-to-shard.json', 'utf8')) as { vectors: { key: string; shards: number; shard: number }[] };
  for (const v of vectors) {
    assert.deepEqual(chooseShard({ ...base, shardCount: v.shards }, headers({ 'x-cache-key': v.key })), { kind: 'shard', shard: v.shard }, v.key);
  }
  assert.equal(chooseShard({ ...base, keyHeader: '' }, headers({ 'x-cache-key': 'k' })).kind, 'invalid', 'no key header configured');
});

test('a key given as bytes (a -bin header) hashes as its UTF-8 string does (every key-to-shard vector)', () => {
  const { vectors } = JSON.parse(readFileSync('testdata/vectors/key-to-shard.json', 'utf8')) as { vectors: { key: string; shards: number; shard: number }[] };
  for (const v of vectors) {
    const bytes = (name: string): Uint8Array | undefined => (name === 'x-cache-key' ? Buffer.from(v.key, 'utf8') : undefined);
    assert.deepEqual(chooseShard({ ...base, shardCount: v.shards }, bytes), { kind: 'shard', shard: v.shard }, v.key);
  }
});

test('no header: any endpoint, or INVALID_ARGUMENT naming the headers', () => {
  assert.deepEqual(chooseShard({ ...base, missingHeader: 'any' }, headers({})), { kind: 'any' });
  const c = chooseShard(base, headers({}));
  assert.equal(c.kind, 'invalid');
  assert.match((c as { message: string }).message, /x-cache-shard or x-cache-key/);
});

test('owners in rank order: first READY, else wait while one connects, else UNAVAILABLE', () => {
  const owners = decodeOwners(base);
  const st = (m: Record<number, OwnerState>) => (e: number): OwnerState => m[e] ?? 'ready';
  assert.deepEqual(chooseOwner(owners, 4, st({})), { kind: 'owner', endpoint: 1 });
  assert.deepEqual(chooseOwner(owners, 4, st({ 1: 'down' })), { kind: 'owner', endpoint: 2 });
  assert.deepEqual(chooseOwner(owners, 4, st({ 1: 'connecting', 2: 'down' })), { kind: 'queue' });
  assert.deepEqual(chooseOwner(owners, 4, st({ 1: 'pending', 2: 'down' })), { kind: 'queue' });
  assert.deepEqual(chooseOwner(owners, 4, st({ 1: 'down', 2: 'down' })), { kind: 'unavailable', message: 'no owner of shard 4 is reachable' });
  const unowned = decodeOwners({ ...base, shardCount: 2, owners: encodeOwners([[0], []], 1) });
  assert.equal(unowned.table[1], NO_OWNER);
  assert.deepEqual(chooseOwner(unowned, 1, st({})), { kind: 'unavailable', message: 'shard 1 has no owner' });
});

test('a config that does not fit the contract is a BAD_ARGUMENT naming the field', () => {
  const bad = (patch: object, field: string): void => {
    assert.throws(() => parseShardPickerConfig({ ...base, ...patch }), (e: unknown) => e instanceof KeywayError && e.code === 'BAD_ARGUMENT' && e.location.field === `keyway.shard_picker.${field}`);
  };
  bad({ shardCount: 0 }, 'shardCount');
  bad({ missingHeader: 'maybe' }, 'missingHeader');
  bad({ endpoints: [1] }, 'endpoints');
  bad({ owners: encodeOwners([[7]], 1), shardCount: 1 }, 'owners');
  bad({ owners: 'AAA=' }, 'owners');
  assert.deepEqual(parseShardPickerConfig(base), base);
});

test('a hot shard spreads over its first k READY owners by weight; others keep primary first', () => {
  const config: ShardPickerConfig = { ...base, readers: [7, 2], weights: [1, 3, 1] };
  const owners = decodeOwners(config);
  const ready = (): OwnerState => 'ready';
  // Shard 7 is owned by [1, 2] (7 % 3 = 1): weights 3 and 1.
  const counts = [0, 0, 0];
  for (let i = 0; i < 1000; i++) {
    const c = chooseOwner(owners, 7, ready, () => i / 1000);
    assert.equal(c.kind, 'owner');
    counts[(c as { endpoint: number }).endpoint]!++;
  }
  assert.deepEqual(counts, [0, 750, 250]);
  assert.deepEqual(chooseOwner(owners, 8, ready, () => 0.99), { kind: 'owner', endpoint: 2 }, 'shard 8 is not hot: its primary');
  // A reader down: the other reader takes the call; both down: the primary-first rule (queue while connecting).
  assert.deepEqual(chooseOwner(owners, 7, (e) => (e === 1 ? 'down' : 'ready'), () => 0), { kind: 'owner', endpoint: 2 });
  assert.deepEqual(chooseOwner(owners, 7, () => 'connecting', () => 0), { kind: 'queue' });
  // A picker that predates readers routes to the primary alone: the config stays valid without them.
  assert.deepEqual(chooseOwner(decodeOwners(base), 7, ready, () => 0.99), { kind: 'owner', endpoint: 1 });
});

test('readers and weights are checked', () => {
  for (const [readers, weights] of [[[7], undefined], [[1024, 2], undefined], [[7, 3], undefined], [[7, 1], undefined], [[7, 2], [1, 2]], [[7, 2], [1, 0, 1]]] as const) {
    assert.throws(() => parseShardPickerConfig({ ...base, readers, ...(weights ? { weights } : {}) }), KeywayError, JSON.stringify(readers));
  }
  assert.deepEqual(parseShardPickerConfig({ ...base, readers: [7, 2], weights: [1, 3, 1] }).readers, [7, 2]);
  // Without readers too, as the Go reader checks them.
  for (const weights of [[0, 1, 1], [1, 1], [1, Number.NaN, 1]]) {
    assert.throws(() => parseShardPickerConfig({ ...base, weights }), KeywayError, JSON.stringify(weights));
  }
});
