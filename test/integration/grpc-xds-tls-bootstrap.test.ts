/**
 * Why the TLS tests drive proxyless gRPC with grpc-js and TLS credentials rather than with
 * @grpc/grpc-js-xds (docs/security.md "TLS and mTLS for xDS"): the installed grpc-js-xds accepts
 * only `insecure` and `google_default` channel credentials for its control plane, so a bootstrap
 * asking for `tls` (gRFC A65) is refused. When an upgrade adds `tls`, this fails: then dial keyway
 * over mTLS from grpc-js-xds in e2e/adversarial/tls.test.ts and update the docs.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const { validateXdsServerConfig } = require('@grpc/grpc-js-xds/build/src/xds-bootstrap.js') as {
  validateXdsServerConfig(obj: unknown): unknown;
};
const grpcXdsVersion = (require('@grpc/grpc-js-xds/package.json') as { version: string }).version;

test(`@grpc/grpc-js-xds ${grpcXdsVersion} cannot dial its control plane over TLS`, () => {
  const server = (type: string) => ({
    server_uri: 'keyway.keyway-system.svc:18000',
    channel_creds: [{ type, config: { ca_certificate_file: '/ca.crt', certificate_file: '/tls.crt', private_key_file: '/tls.key' } }],
    server_features: ['xds_v3'],
  });
  assert.doesNotThrow(() => validateXdsServerConfig({ ...server('insecure'), channel_creds: [{ type: 'insecure' }] }));
  assert.throws(() => validateXdsServerConfig(server('tls')), /must contain at least one entry with a type in \[google_default,insecure\]/);
});
