import { test } from 'node:test';
import assert from 'node:assert/strict';
import { create, equals, fromBinary, toBinary } from '@bufbuild/protobuf';
import { DeltaDiscoveryResponseSchema, DiscoveryResponseSchema } from '../../../src/xds/proto.js';
import { ResourceEncoder } from '../../../src/xds/cache/index.js';
import { encodeDeltaResponse, encodeSotwResponse, issuedAfter, newNonce, sharedResponse } from '../../../src/xds/server/wire.js';
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

test('shared responses: streams of one selection get one gRPC frame and one nonce; the stream that holds that nonce gets a new one', () => {
  const owner = {};
  const build = (nonce: string): Uint8Array => encodeSotwResponse({ versionInfo: 'v1', typeUrl, nonce }, resources);
  const older = newNonce();
  const one = sharedResponse(owner, 'sel', undefined, build);
  const two = sharedResponse(owner, 'sel', older, build);
  assert.equal(one, two, 'the same object: no per-stream copy');
  assert.equal(one.framed[0], 0);
  assert.equal(one.framed.readUInt32BE(1), one.body.byteLength);
  const decoded = fromBinary(DiscoveryResponseSchema, one.body);
  assert.equal(decoded.nonce, one.nonce);
  assert.equal(decoded.resources.length, 2);
  // Sent again to a stream whose latest nonce is the shared one: a new nonce, so its ACK is told apart.
  const again = sharedResponse(owner, 'sel', one.nonce, build);
  assert.notEqual(again.nonce, one.nonce);
  assert.equal(fromBinary(DiscoveryResponseSchema, again.body).nonce, again.nonce);
  assert.equal(sharedResponse(owner, 'sel', undefined, build), again, 'the new one is shared from then on');
  assert.notEqual(sharedResponse(owner, 'other', undefined, build).nonce, again.nonce);
  // A stream sent a later response since (its latest nonce is newer) may have been sent this one
  // before: it gets a new nonce too, so no stream sees one nonce twice.
  const later = sharedResponse(owner, 'other', again.nonce, build);
  assert.notEqual(sharedResponse(owner, 'sel', later.nonce, build).nonce, again.nonce);
});

test('nonces: issuedAfter orders the sequence, across the change of length', () => {
  const seq = Array.from({ length: 40 }, () => newNonce());
  for (let i = 1; i < seq.length; i++) {
    assert.ok(issuedAfter(seq[i]!, seq[i - 1]!));
    assert.ok(!issuedAfter(seq[i - 1]!, seq[i]!));
  }
  assert.ok(issuedAfter('10', 'z') && !issuedAfter('z', '10') && !issuedAfter('a', 'a'));
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
