// The encoder writes each resource's google.protobuf.Any by hand and hashes its version in one
// call (docs/ownership.md "Cost"): the bytes and versions must be those of protobuf-es's Any and of
// the Hash object they replace, or every proxy would see new versions after an upgrade.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { create, toBinary } from '@bufbuild/protobuf';
import { AnySchema } from '@bufbuild/protobuf/wkt';
import { anyBytes } from '../../../src/xds/cache/encoder.js';
import { contentVersion } from '../../../src/xds/cache/index.js';
import { TYPE_URL } from '../../../src/xds/resources.js';
import { Rng } from '../../support/seeded-random.js';

// Lengths around each varint boundary (1, 2, 3 and 4 bytes of length).
const LENGTHS = [0, 1, 2, 127, 128, 129, 300, 16_383, 16_384, 16_385, 2_097_151, 2_097_152];
const TYPE_URLS = [...Object.values(TYPE_URL), '', 'x', `type.googleapis.com/${'a'.repeat(200)}`, 'type.googleapis.com/ünïcode.Msg'];

test('anyBytes gives the bytes of toBinary(AnySchema, create(AnySchema, {typeUrl, value})) for every length and type URL', () => {
  const rng = new Rng(5);
  for (const typeUrl of TYPE_URLS) {
    for (const length of LENGTHS) {
      const value = new Uint8Array(length).map(() => rng.int(256));
      const expected = toBinary(AnySchema, create(AnySchema, { typeUrl, value }));
      assert.deepEqual(anyBytes(typeUrl, value), expected, `${typeUrl}, ${length} bytes`);
    }
  }
});

test('contentVersion is the first 8 bytes of SHA-256 over the type URL, a NUL and the bytes, in hex', () => {
  const rng = new Rng(6);
  for (const typeUrl of TYPE_URLS) {
    for (const length of LENGTHS.slice(0, 9)) {
      const value = new Uint8Array(length).map(() => rng.int(256));
      const expected = createHash('sha256').update(typeUrl).update('\0').update(value).digest('hex').slice(0, 16);
      assert.equal(contentVersion(typeUrl, value), expected, `${typeUrl}, ${length} bytes`);
    }
  }
});
