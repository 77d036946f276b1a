/**
 * xDS over TLS and mTLS (docs/security.md "TLS and mTLS for xDS"), against `keyway serve` started
 * with the `KEYWAY_XDS_TLS_*` variables and certificates made with openssl into a temp dir:
 * - mTLS: real Envoy (an xDS cluster with a TLS transport socket) whose certificate names its node
 *   id gets its configuration; one that claims another node id, one without a client certificate
 *   and one with a certificate from another CA get nothing and no row in /v1/proxies. gRPC clients
 *   (grpc-js with TLS credentials: @grpc/grpc-js-xds 1.14 cannot dial its control plane over TLS,
 *   its bootstrap knows only `insecure` and `google_default` channel credentials) are served when
 *   the certificate's CN or URI SAN is the node id, refused with PERMISSION_DENIED when it is not or
 *   when it is outside the SAN allow-list, and a plaintext client fails; a connected proxy's row
 *   cannot be taken over by another certificate reusing its node id. The ownership agent gets
 *   its assignments over mTLS; one claiming another node's id is refused, and so is ReportWarm.
 * - TLS only (no client CA): Envoy and grpc-js that trust the CA are served; plaintext fails.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import { Client, credentials, status as GrpcStatus, type ChannelCredentials, type ServiceError } from '@grpc/grpc-js';
import { adsBootstrap, type XdsTlsBootstrap } from '../support/bootstrap.js';
import { makePki, opensslSkipReason, type CertFiles, type TestCa, type TestPki } from '../../test/support/certs.js';
import { envoyBinaries, envoySkipReason, startEnvoy, type EnvoyProcess } from '../support/envoy.js';
import { httpGetText } from '../support/http.js';
import { startKeyway, type KeywayProcess } from '../support/keyway.js';
import { eventually } from '../../test/support/eventually.js';
import { XdsTestClient } from '../../test/support/xds-client/xds-client.js';
import { OwnershipAgent } from '../../src/agent/index.js';
import { WarmReportReplySchema, WarmReportSchema, type WarmReport, type WarmReportReply } from '../../src/xds/proto.js';

const skip = envoySkipReason() ?? opensslSkipReason();
const SHARDS = 8;

function writeTopology(dir: string): string {
  const file = path.join(dir, 'topology.yaml');
  const lines = [`shards: ${SHARDS}`, 'replicas: 1', 'spread: none', 'service: keyway-cache', 'endpoints:'];
  ['node-0', 'node-1'].forEach((id, i) => {
    lines.push(`  - {id: ${id}, address: 127.0.0.1, port: ${7400 + i}, locality: {region: r, zone: z, subzone: f}, weight: 10}`);
  });
  writeFileSync(file, `${lines.join('\n')}\n`);
  return file;
}

interface ProxyRow {
  readonly id: string;
  readonly cluster: string;
  readonly flavor: string;
  readonly streams: readonly { readonly id: string }[];
}

async function proxyIds(keyway: KeywayProcess): Promise<string[]> {
  const body = JSON.parse(await httpGetText(`${keyway.httpUrl}/v1/proxies`)) as { proxies: ProxyRow[] };
  return body.proxies.map((p) => p.id).sort();
}

async function proxyRow(keyway: KeywayProcess, id: string): Promise<ProxyRow | undefined> {
  const body = JSON.parse(await httpGetText(`${keyway.httpUrl}/v1/proxies`)) as { proxies: ProxyRow[] };
  return body.proxies.find((p) => p.id === id);
}

function sslCredentials(ca: string, leaf?: CertFiles): ChannelCredentials {
  return leaf
    ? credentials.createSsl(readFileSync(ca), readFileSync(leaf.key), readFileSync(leaf.cert))
    : credentials.createSsl(readFileSync(ca));
}

/** A grpc-js ADS client as a proxyless gRPC client; resolves with the listener response or the stream's end. */
async function adsOutcome(port: number, nodeId: string, creds: ChannelCredentials): Promise<{ served: boolean; code?: number; details?: string }> {
  const client = new XdsTestClient({ port, node: { id: nodeId, userAgentName: 'gRPC Node Pure JS' }, credentials: creds });
  try {
    client.request('listener');
    const got = await Promise.race([client.expect('listener', 15_000).then(() => 'served' as const), client.finished]);
    if (got === 'served') return { served: true };
    return { served: false, code: got.code, details: got.details };
  } catch {
    const s = await client.finished;
    return { served: false, code: s.code, details: s.details };
  } finally {
    client.close();
  }
}

/** One ReportWarm call over `creds` for `nodeId`. */
function reportWarm(port: number, creds: ChannelCredentials, nodeId: string): Promise<{ code: number; details: string; accepted?: number[] }> {
  const client = new Client(`127.0.0.1:${port}`, creds);
  return new Promise((resolve) => {
    client.makeUnaryRequest(
      '/keyway.v1.ShardOwnership/ReportWarm',
      (m: WarmReport) => Buffer.from(toBinary(WarmReportSchema, m)),
      (b: Buffer) => fromBinary(WarmReportReplySchema, b),
      create(WarmReportSchema, { nodeId, shards: [0] }),
      { deadline: Date.now() + 10_000 },
      (err: ServiceError | null, reply?: WarmReportReply) => {
        client.close();
        resolve(err ? { code: err.code, details: err.details } : { code: 0, details: '', accepted: [...(reply?.accepted ?? [])] });
      },
    );
  });
}

describe('xDS over mTLS: the node id is bound to the client certificate', { skip }, () => {
  let pki: TestPki;
  let ca: TestCa;
  let keyway: KeywayProcess;
  const envoys: EnvoyProcess[] = [];
  const certs: Record<string, CertFiles> = {};

  before(async () => {
    pki = makePki();
    ca = pki.ca('keyway-ca');
    const rogue = pki.ca('rogue-ca');
    const server = ca.issue('keyway-server', { cn: 'keyway', dns: ['localhost'], ip: ['127.0.0.1'] });
    certs.envoyA = ca.issue('envoy-a', { cn: 'envoy-a', dns: ['envoy-a'] });
    certs.grpcCn = ca.issue('grpc-cn', { cn: 'grpc-1' }); // no SAN: the CN names the node
    certs.grpcUri = ca.issue('grpc-uri', { cn: 'gateway', uri: ['spiffe://keyway.test/ns/gw/sa/grpc-2'] });
    certs.node0 = ca.issue('node-0', { cn: 'node-0', dns: ['node-0'] });
    certs.node1 = ca.issue('node-1', { cn: 'node-1', dns: ['node-1'] });
    certs.outsider = ca.issue('outsider', { cn: 'outsider', dns: ['outsider'] });
    certs.rogue = rogue.issue('rogue-envoy', { cn: 'envoy-a', dns: ['envoy-a'] });
    keyway = await startKeyway({
      configPath: writeTopology(pki.dir),
      env: {
        KEYWAY_XDS_TLS_CERT: server.cert,
        KEYWAY_XDS_TLS_KEY: server.key,
        KEYWAY_XDS_TLS_CLIENT_CA: ca.cert,
        KEYWAY_XDS_TLS_ALLOWED_SANS: 'envoy-*,grpc-*,node-*,spiffe://keyway.test/ns/gw/*',
      },
    });
  });

  after(async () => {
    for (const e of envoys) await e.stop();
    await keyway?.stop();
    pki?.cleanup();
  });

  const envoy = async (nodeId: string, tls: XdsTlsBootstrap, binary?: string, waitReady = true): Promise<EnvoyProcess> => {
    const e = await startEnvoy({
      bootstrap: adsBootstrap({ xdsPort: keyway.xdsPort, nodeId, tls, initialFetchTimeoutMs: waitReady ? 15_000 : 1_000 }),
      waitReady,
      ...(binary ? { binary } : {}),
    });
    envoys.push(e);
    return e;
  };

  for (const bin of envoyBinaries()) {
    test(`Envoy (${bin.label}) whose certificate names its node id gets its configuration`, { skip: bin.skip }, async () => {
      const nodeId = `envoy-a`;
      const e = await envoy(nodeId, { ca: ca.cert, cert: certs.envoyA!.cert, key: certs.envoyA!.key }, bin.path);
      await e.waitForStat('cluster_manager.cds.update_success', (v) => (v ?? 0) >= 1, { timeoutMs: 20_000 });
      await e.waitForStat('listener_manager.lds.update_success', (v) => (v ?? 0) >= 1, { timeoutMs: 20_000 });
      assert.equal(await e.statValue('control_plane.connected_state'), 1);
      await eventually('envoy-a in /v1/proxies', () => proxyIds(keyway), { accept: (ids) => ids.includes(nodeId) });
      await e.stop();
    });
  }

  test('Envoy claiming a node id its certificate does not name is refused (no impersonation)', async () => {
    const e = await envoy('envoy-b', { ca: ca.cert, cert: certs.envoyA!.cert, key: certs.envoyA!.key }, undefined, false);
    const refusal = await eventually(
      'keyway to refuse envoy-b',
      () => keyway.logs().find((l) => String(l.msg).startsWith('xDS stream refused') && String(l.error).includes('"envoy-b"')),
      { accept: (l) => l !== undefined, timeoutMs: 20_000 },
    );
    assert.match(String(refusal!.error), /not named by the client certificate/);
    assert.deepEqual(refusal!.identities, ['envoy-a']);
    assert.ok(!(await proxyIds(keyway)).includes('envoy-b'));
    assert.equal((await e.statValue('cluster_manager.cds.update_success')) ?? 0, 0, 'Envoy must get no clusters');
    await e.stop();
  });

  test('Envoy without a client certificate, or with one from another CA, fails the handshake', async () => {
    const noCert = await envoy('envoy-a', { ca: ca.cert }, undefined, false);
    const rogue = await envoy('envoy-a', { ca: ca.cert, cert: certs.rogue!.cert, key: certs.rogue!.key }, undefined, false);
    for (const e of [noCert, rogue]) {
      // Envoy counts the refused connections on the xDS cluster (a TLS 1.3 client learns its certificate
      // was refused only when keyway closes the connection); keyway sees no stream at all.
      await e.waitForStat('cluster.keyway_xds.upstream_cx_connect_fail', (v) => (v ?? 0) >= 2, { timeoutMs: 20_000 });
      assert.equal((await e.statValue('cluster_manager.cds.update_success')) ?? 0, 0);
    }
    assert.deepEqual(await proxyIds(keyway), []);
    await noCert.stop();
    await rogue.stop();
  });

  test('gRPC clients: the CN or a URI SAN names the node; impersonation, the allow-list and plaintext are refused', async () => {
    const cn = await adsOutcome(keyway.xdsPort, 'grpc-1', sslCredentials(ca.cert, certs.grpcCn));
    assert.deepEqual(cn, { served: true });
    const uri = await adsOutcome(keyway.xdsPort, 'spiffe://keyway.test/ns/gw/sa/grpc-2', sslCredentials(ca.cert, certs.grpcUri));
    assert.deepEqual(uri, { served: true });

    const impostor = await adsOutcome(keyway.xdsPort, 'grpc-9', sslCredentials(ca.cert, certs.grpcCn));
    assert.equal(impostor.served, false);
    assert.equal(impostor.code, GrpcStatus.PERMISSION_DENIED, impostor.details);
    assert.match(impostor.details ?? '', /node id "grpc-9" is not named by the client certificate/);

    const outsider = await adsOutcome(keyway.xdsPort, 'outsider', sslCredentials(ca.cert, certs.outsider));
    assert.equal(outsider.code, GrpcStatus.PERMISSION_DENIED, outsider.details);
    assert.match(outsider.details ?? '', /matches no --xds-tls-allowed-sans pattern/);

    const plaintext = await adsOutcome(keyway.xdsPort, 'grpc-1', credentials.createInsecure());
    assert.equal(plaintext.served, false);
    assert.equal(plaintext.code, GrpcStatus.UNAVAILABLE, plaintext.details);
  });

  test("a connected proxy's row cannot be taken over by another certificate reusing its node id", async () => {
    const owner = new XdsTestClient({ port: keyway.xdsPort, node: { id: 'grpc-1', cluster: 'gateways', userAgentName: 'gRPC Node Pure JS' }, credentials: sslCredentials(ca.cert, certs.grpcCn) });
    try {
      owner.request('listener');
      await owner.expect('listener', 15_000);
      const before = await proxyRow(keyway, 'grpc-1');
      assert.equal(before?.streams.length, 1);
      // Another valid certificate of the same CA (allowed by the SAN list), claiming grpc-1 as an Envoy.
      const impostor = new XdsTestClient({ port: keyway.xdsPort, node: { id: 'grpc-1', cluster: 'evil', userAgentName: 'envoy' }, credentials: sslCredentials(ca.cert, certs.node1) });
      impostor.request('listener');
      const end = await impostor.finished;
      impostor.close();
      assert.equal(end.code, GrpcStatus.PERMISSION_DENIED, end.details);
      const afterwards = await proxyRow(keyway, 'grpc-1');
      assert.deepEqual(
        { streams: afterwards?.streams.map((x) => x.id), cluster: afterwards?.cluster, flavor: afterwards?.flavor },
        { streams: before!.streams.map((x) => x.id), cluster: 'gateways', flavor: 'grpc' },
      );
    } finally {
      owner.close();
    }
  });

  test('the ownership agent gets its assignments over mTLS; another node id and its warm reports are refused', async () => {
    const logs: Record<string, unknown>[] = [];
    const good = new OwnershipAgent({ nodeId: 'node-0', servers: [`127.0.0.1:${keyway.xdsPort}`], credentials: sslCredentials(ca.cert, certs.node0) });
    const impostor = new OwnershipAgent({
      nodeId: 'node-0',
      servers: [`127.0.0.1:${keyway.xdsPort}`],
      credentials: sslCredentials(ca.cert, certs.node1),
      log: (r) => logs.push(r),
      timing: { backoffInitialMs: 100, backoffMaxMs: 500 },
    });
    try {
      good.start();
      impostor.start();
      await eventually('node-0 assignments over mTLS', () => good.assignments().size, { accept: (n) => n > 0, timeoutMs: 15_000 });
      await eventually('the impostor refused', () => logs.find((l) => l.msg === 'keyway refused the ownership stream; retrying'), {
        accept: (l) => l !== undefined,
        timeoutMs: 15_000,
      });
      assert.equal(impostor.assignments().size, 0);
      assert.equal(logs.find((l) => l.msg === 'keyway refused the ownership stream; retrying')!.code, GrpcStatus.PERMISSION_DENIED);
    } finally {
      await good.close();
      await impostor.close();
    }
    const forged = await reportWarm(keyway.xdsPort, sslCredentials(ca.cert, certs.node1), 'node-0');
    assert.equal(forged.code, GrpcStatus.PERMISSION_DENIED, forged.details);
    const own = await reportWarm(keyway.xdsPort, sslCredentials(ca.cert, certs.node1), 'node-1');
    assert.equal(own.code, GrpcStatus.OK, own.details);
    assert.deepEqual(own.accepted, [0]);
  });
});

describe('xDS over TLS without client certificates', { skip }, () => {
  let pki: TestPki;
  let ca: TestCa;
  let keyway: KeywayProcess;
  let envoy: EnvoyProcess | undefined;

  before(async () => {
    pki = makePki();
    ca = pki.ca('keyway-ca');
    const server = ca.issue('keyway-server', { cn: 'keyway', dns: ['localhost'], ip: ['127.0.0.1'] });
    keyway = await startKeyway({ configPath: writeTopology(pki.dir), env: { KEYWAY_XDS_TLS_CERT: server.cert, KEYWAY_XDS_TLS_KEY: server.key } });
  });

  after(async () => {
    await envoy?.stop();
    await keyway?.stop();
    pki?.cleanup();
  });

  test('Envoy and grpc-js that trust the CA are served; plaintext is not', async () => {
    envoy = await startEnvoy({ bootstrap: adsBootstrap({ xdsPort: keyway.xdsPort, nodeId: 'envoy-tls', tls: { ca: ca.cert } }) });
    await envoy.waitForStat('cluster_manager.cds.update_success', (v) => (v ?? 0) >= 1, { timeoutMs: 20_000 });
    assert.deepEqual(await adsOutcome(keyway.xdsPort, 'grpc-tls', sslCredentials(ca.cert)), { served: true });
    const plaintext = await adsOutcome(keyway.xdsPort, 'grpc-plain', credentials.createInsecure());
    assert.equal(plaintext.code, GrpcStatus.UNAVAILABLE, plaintext.details);
    const ids = await proxyIds(keyway);
    assert.ok(ids.includes('envoy-tls'), JSON.stringify(ids));
    assert.ok(!ids.includes('grpc-plain'));
  });
});
