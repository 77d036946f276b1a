// A client whose certificate the CA signed but that claims another node id is refused on every
// stream (docs/security.md "TLS and mTLS for xDS"); it can do so in a loop, and each refusal was a
// warn line of its own: now one line per burst and certificate, as the stream caps' refusals.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { credentials, status as GrpcStatus } from '@grpc/grpc-js';
import { SnapshotCache } from '../../src/xds/cache/index.js';
import { startXdsServer } from '../../src/xds/server/index.js';
import { checkConsistency, translate } from '../../src/xds/translator/index.js';
import { makePki, opensslSkipReason } from '../support/certs.js';
import { captureLogs } from '../serve/support.js';
import { XdsTestClient } from '../support/xds-client/xds-client.js';
import { endpoint, handInput } from '../xds/translator/fixtures.js';

const input = handInput([endpoint('a', '10.0.0.1')], [['a'], ['a']]);

test('streams refused for a node id the certificate does not name are logged once per burst, with the certificate and the reason', { skip: opensslSkipReason() ?? false }, async (t) => {
  const pki = makePki();
  t.after(() => pki.cleanup());
  const ca = pki.ca('ca');
  const serverCert = ca.issue('keyway', { cn: 'keyway', ip: ['127.0.0.1'] });
  const nodeCert = ca.issue('envoy-a', { cn: 'envoy-a', dns: ['envoy-a'] });
  const { logger, records } = captureLogs('info');
  const cache = new SnapshotCache({ build: (c) => translate(input, c), checkConsistency });
  const s = await startXdsServer({ cache, port: 0, host: '127.0.0.1', shardCount: () => 2, logger, tls: { certFile: serverCert.cert, keyFile: serverCert.key, clientCaFile: ca.cert } });
  t.after(() => s.close());
  const creds = credentials.createSsl(readFileSync(ca.cert), readFileSync(nodeCert.key), readFileSync(nodeCert.cert), { checkServerIdentity: () => undefined });
  for (let i = 0; i < 5; i++) {
    const c = new XdsTestClient({ port: s.port, node: { id: `envoy-b${i}` }, credentials: creds });
    c.request('cluster');
    const status = await c.finished;
    assert.equal(status.code, GrpcStatus.PERMISSION_DENIED);
    c.close();
  }
  const refusals = records.filter((r) => String(r.msg).startsWith('xDS stream refused'));
  assert.equal(refusals.length, 1, `one line for five refusals: ${refusals.map((r) => r.msg).join(' | ')}`);
  assert.deepEqual(refusals[0]!.identities, ['envoy-a']);
  assert.match(String(refusals[0]!.error), /node id "envoy-b0" is not named by the client certificate/);
});
