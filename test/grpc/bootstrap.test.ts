// withShardPicker against @grpc/grpc-js-xds's own bootstrap validator (the one loadBootstrapInfo
// runs on GRPC_XDS_BOOTSTRAP_CONFIG): the picker metadata is added, a node without a locality gets
// an empty one (grpc-js-xds refuses a node without), the user's fields are kept, a node field that
// is not a JSON object, or a locality field or cluster that is not a string, is refused by name;
// and the example of docs/xds.md loads.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { runInNewContext } from 'node:vm';
import { withShardPicker, KeywayError, type XdsBootstrap } from '../../src/grpc/index.js';

const require = createRequire(import.meta.url);
const { validateBootstrapConfig } = require('@grpc/grpc-js-xds/build/src/xds-bootstrap.js') as {
  validateBootstrapConfig(obj: unknown): { node: { id: string; locality: object; metadata?: unknown } };
};

const xdsServers = [{ server_uri: '127.0.0.1:18000', channel_creds: [{ type: 'insecure' }], server_features: ['xds_v3'] }];
/** What grpc-js-xds makes of a bootstrap put in GRPC_XDS_BOOTSTRAP_CONFIG. */
const load = (bootstrap: XdsBootstrap): ReturnType<typeof validateBootstrapConfig> => validateBootstrapConfig(JSON.parse(JSON.stringify(bootstrap)));

test('withShardPicker: a node without a locality loads in grpc-js-xds, with an empty one', () => {
  const bare = { xds_servers: xdsServers, node: { id: 'grpc-client-1' } };
  assert.throws(() => load(bare), /locality field missing/, 'grpc-js-xds itself refuses it');
  const loaded = load(withShardPicker(bare));
  assert.equal(loaded.node.id, 'grpc-client-1');
  assert.deepEqual(loaded.node.locality, {});
  assert.deepEqual(withShardPicker(bare).node, { id: 'grpc-client-1', locality: {}, metadata: { 'keyway.shard_picker': 'v1' } });
  assert.deepEqual(bare.node, { id: 'grpc-client-1' }, 'the input is not changed');
});

test('withShardPicker keeps the locality, metadata and other fields the bootstrap has', () => {
  const locality = { region: 'r', zone: 'z1', sub_zone: 'nvl-3' };
  const out = withShardPicker({ xds_servers: xdsServers, node: { id: 'n', cluster: 'c', locality, metadata: { team: 'a' } }, extra: 1 });
  assert.deepEqual(out, { xds_servers: xdsServers, node: { id: 'n', cluster: 'c', locality, metadata: { team: 'a', 'keyway.shard_picker': 'v1' } }, extra: 1 });
  assert.deepEqual(load(out).node.locality, locality);
});

test('withShardPicker refuses a bootstrap, node, node.metadata or node.locality that is not a JSON object, by name', () => {
  const cases: [unknown, string, RegExp][] = [
    [null, 'bootstrap', /got null/],
    [undefined, 'bootstrap', /got undefined/],
    ['{"node":{}}', 'bootstrap', /got "\{\\"node/],
    [{ node: 'n' }, 'node', /got "n"/],
    [{ node: { id: 'n', metadata: 'team=a' } }, 'node.metadata', /got "team=a"/],
    [{ node: { id: 'n', locality: null } }, 'node.locality', /got null/],
    [{ node: { id: 'n', locality: ['z1'] } }, 'node.locality', /got an array/],
  ];
  for (const [bootstrap, field, got] of cases) {
    assert.throws(
      () => withShardPicker(bootstrap as XdsBootstrap),
      (e: unknown) => e instanceof KeywayError && e.code === 'BAD_ARGUMENT' && e.location.field === field && e.message.startsWith(`${field}: must be a JSON object`) && got.test(e.message),
      JSON.stringify(bootstrap),
    );
  }
});

test("docs/xds.md's shard-picker example gives a bootstrap grpc-js-xds loads", () => {
  const doc = readFileSync(new URL('../../docs/xds.md', import.meta.url), 'utf8');
  const literal = /withShardPicker\((\{[\s\S]*?\n\})\)\)/.exec(doc)?.[1];
  assert.ok(literal, 'the example passes an object literal to withShardPicker');
  const bootstrap = runInNewContext(`(${literal})`) as XdsBootstrap;
  const loaded = load(withShardPicker(bootstrap));
  assert.equal(typeof loaded.node.id, 'string');
});

test('withShardPicker refuses a node without a non-empty string id, which grpc-js-xds or keyway would refuse on every call', () => {
  assert.throws(() => load({ xds_servers: xdsServers, node: { locality: {} } }), /id field missing/, 'grpc-js-xds itself refuses it');
  const cases: [XdsBootstrap, RegExp][] = [
    [{ xds_servers: xdsServers }, /missing/],
    [{ xds_servers: xdsServers, node: {} }, /missing/],
    [{ xds_servers: xdsServers, node: { id: 42 } }, /got 42/],
    [{ xds_servers: xdsServers, node: { id: '' } }, /empty/],
  ];
  for (const [bootstrap, got] of cases) {
    assert.throws(
      () => withShardPicker(bootstrap),
      (e: unknown) => e instanceof KeywayError && e.code === 'BAD_ARGUMENT' && e.location.field === 'node.id' && got.test(e.message),
      JSON.stringify(bootstrap),
    );
  }
});

test('withShardPicker refuses a node.cluster or node.locality field that is not a string, which grpc-js-xds refuses on every call', () => {
  // As a bootstrap read from JSON can be, whatever XdsLocality says.
  const cases = [
    [{ xds_servers: xdsServers, node: { id: 'n', locality: { zone: 3 } } }, 'node.locality.zone', /got 3/],
    [{ xds_servers: xdsServers, node: { id: 'n', locality: { region: null, zone: 'z' } } }, 'node.locality.region', /got null/],
    [{ xds_servers: xdsServers, node: { id: 'n', locality: { sub_zone: ['nvl-1'] } } }, 'node.locality.sub_zone', /got \["nvl-1"\]/],
    [{ xds_servers: xdsServers, node: { id: 'n', cluster: 7 } }, 'node.cluster', /got 7/],
  ] as unknown as [XdsBootstrap & { node: object }, string, RegExp][];
  for (const [bootstrap, field, got] of cases) {
    assert.throws(() => load({ ...bootstrap, node: { locality: {}, ...bootstrap.node } }), /expected string/, `grpc-js-xds itself refuses ${JSON.stringify(bootstrap.node)}`);
    assert.throws(
      () => withShardPicker(bootstrap),
      (e: unknown) => e instanceof KeywayError && e.code === 'BAD_ARGUMENT' && e.location.field === field && got.test(e.message),
      JSON.stringify(bootstrap),
    );
  }
  // A locality field grpc-js-xds does not read (keyway's own spelling, subzone) passes, as grpc-js-xds ignores it.
  assert.doesNotThrow(() => load(withShardPicker({ xds_servers: xdsServers, node: { id: 'n', locality: { subzone: 'nvl-1' } as object } })));
});
