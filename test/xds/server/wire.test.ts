import { test } from 'node:test';
import assert from 'node:assert/strict';
import { create, equals, fromBinary, toBinary } from '@bufbuild/protobuf';
import { DeltaDiscoveryResponseSchema, DiscoveryResponseSchema } from '../../../src/xds/proto.js';
import { ResourceEncoder } from '../../../src/xds/cache/index.js';
import { encodeDeltaResponse, encodeSotwResponse, encodeSotwResponseShared } from '../../../src/xds/server/wire.js';
import { edsCluster, loadAssignment } from '../../support/xds-client/resources.js';

const encoder = new ResourceEncoder();
const resources = [encoder.encode('cluster', edsCluster('a')), encoder.encode('cluster', edsCluster('b', { serviceName: 'b-eds' }))];
const typeUrl = 'type.googleapis.com/envoy.config.cluster.v3.Cluster';

test('SotW responses framed from pre-encoded Any bytes equal what protobuf-es writes, byte for byte', () => {
  const framed = encodeSotwResponse({ versionInfo: 'v1', typeUrl, nonce: '7', controlPlane: 'keyway-0' }, resources);
  const expected = create(DiscoveryResponseSchema, {
    versionInfo: 'v1',
    typeUrl,
    nonce: '7',
    resources: resources.map((r) => r.any),
    controlPlane: { identifier: 'keyway-0' },
  });
  assert.deepEqual(framed, toBinary(DiscoveryResponseSchema, expected));
  assert.ok(equals(DiscoveryResponseSchema, fromBinary(DiscoveryResponseSchema, framed), expected));
});

test('shared SotW bodies: two streams get the same resources and their own nonces', () => {
  const owner = {};
  const one = encodeSotwResponseShared(owner, 'sel', { versionInfo: 'v1', typeUrl, nonce: '1' }, resources);
  const two = encodeSotwResponseShared(owner, 'sel', { versionInfo: 'v1', typeUrl, nonce: '22' }, resources);
  const a = fromBinary(DiscoveryResponseSchema, one);
  const b = fromBinary(DiscoveryResponseSchema, two);
  assert.equal(a.nonce, '1');
  assert.equal(b.nonce, '22');
  assert.deepEqual(a.resources.map((r) => r.value), b.resources.map((r) => r.value));
  assert.equal(a.resources.length, 2);
});

test('delta responses carry name, version and Any per resource, and removed names', () => {
  const cla = encoder.encode('endpoint', loadAssignment('a', [{ port: 1 }]));
  const framed = encodeDeltaResponse({ systemVersionInfo: 'sv', typeUrl: cla.typeUrl, nonce: '3' }, [cla], ['gone-1', 'gone-2']);
  const decoded = fromBinary(DeltaDiscoveryResponseSchema, framed);
  const expected = create(DeltaDiscoveryResponseSchema, {
    systemVersionInfo: 'sv',
    typeUrl: cla.typeUrl,
    nonce: '3',
    resources: [{ name: 'a', version: cla.version, resource: cla.any }],
    removedResources: ['gone-1', 'gone-2'],
  });
  assert.ok(equals(DeltaDiscoveryResponseSchema, decoded, expected));
});
