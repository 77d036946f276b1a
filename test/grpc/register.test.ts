// registerShardPicker given what a hurried developer passes (docs/xds.md "The shard picker"): an
// object that is not grpc-js (the grpc-js-xds module, registered beside it) is a
// BAD_ARGUMENT that says what to pass, not a TypeError from deep inside.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as xds from '@grpc/grpc-js-xds';
import { registerShardPicker, KeywayError } from '../../src/grpc/index.js';

test('registerShardPicker: the grpc-js-xds module, an empty object or null is a BAD_ARGUMENT naming what to pass', () => {
  for (const wrong of [xds, {}, null]) {
    assert.throws(
      () => registerShardPicker(wrong as unknown as Parameters<typeof registerShardPicker>[0]),
      (e: unknown) => e instanceof KeywayError && e.code === 'BAD_ARGUMENT' && /must be the @grpc\/grpc-js module your channels use \(import \* as grpc from '@grpc\/grpc-js'\)/.test(e.message),
    );
  }
});
