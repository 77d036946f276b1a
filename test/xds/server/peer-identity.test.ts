/**
 * The node-id rule under mTLS (src/xds/server/peer-identity.ts): a certificate's identities as Node
 * reports them, and which node ids they may speak for.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { status as GrpcStatus } from '@grpc/grpc-js';
import { certificateIdentities, nodeIdAdmission } from '../../../src/xds/server/peer-identity.js';
import { ProtocolError } from '../../../src/xds/server/session.js';

test('identities: URI SANs, then DNS SANs, then the CN; IP and email SANs name no node', () => {
  assert.deepEqual(
    certificateIdentities({ subjectaltname: 'DNS:envoy-1, IP Address:10.0.0.1, URI:spiffe://td/ns/gw/sa/envoy, email:a@b.c', subject: { CN: 'envoy-1' } as never }),
    ['spiffe://td/ns/gw/sa/envoy', 'envoy-1'],
  );
  assert.deepEqual(certificateIdentities({ subjectaltname: undefined as never, subject: { CN: 'grpc-1' } as never }), ['grpc-1']);
  // Node quotes a value holding a comma (CVE-2021-44532): it is one name, not two.
  assert.deepEqual(certificateIdentities({ subjectaltname: 'URI:"spiffe://td/a, DNS:evil", DNS:ok', subject: {} as never }), ['spiffe://td/a, DNS:evil', 'ok']);
});

function refusal(fn: () => void): ProtocolError {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof ProtocolError);
    return err;
  }
  assert.fail('admitted');
}

test('the node id must be one of the certificate identities', () => {
  const admit = nodeIdAdmission();
  admit('envoy-1', { address: 'ipv4:127.0.0.1:1', identities: ['spiffe://td/x', 'envoy-1'] });
  admit('spiffe://td/x', { address: 'a', identities: ['spiffe://td/x', 'envoy-1'] });
  const e = refusal(() => admit('envoy-2', { address: 'a', identities: ['envoy-1'] }));
  assert.equal(e.code, GrpcStatus.PERMISSION_DENIED);
  assert.match(e.message, /node id "envoy-2" is not named by the client certificate/);
  assert.equal(refusal(() => admit('envoy-1', { address: 'a' })).code, GrpcStatus.UNAUTHENTICATED);
  assert.equal(refusal(() => admit('envoy-1', { address: 'a', identities: [] })).code, GrpcStatus.UNAUTHENTICATED);
  // Prefixes and case do not count.
  assert.equal(refusal(() => admit('envoy', { address: 'a', identities: ['envoy-1'] })).code, GrpcStatus.PERMISSION_DENIED);
  assert.equal(refusal(() => admit('Envoy-1', { address: 'a', identities: ['envoy-1'] })).code, GrpcStatus.PERMISSION_DENIED);
});

test('the allow-list: * matches any run of characters, everything else is literal', () => {
  const admit = nodeIdAdmission({ allowedSans: ['spiffe://td/ns/cache/sa/*', 'envoy-?'] });
  admit('spiffe://td/ns/cache/sa/node-0', { address: 'a', identities: ['spiffe://td/ns/cache/sa/node-0'] });
  admit('envoy-?', { address: 'a', identities: ['envoy-?'] });
  const e = refusal(() => admit('envoy-1', { address: 'a', identities: ['envoy-1'] }));
  assert.equal(e.code, GrpcStatus.PERMISSION_DENIED);
  assert.match(e.message, /matches no --xds-tls-allowed-sans pattern/);
  assert.equal(refusal(() => admit('x', { address: 'a', identities: ['spiffe://td/ns/cachex/sa/x'] })).code, GrpcStatus.PERMISSION_DENIED);
});
