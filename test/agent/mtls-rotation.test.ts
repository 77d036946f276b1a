// The agent under mTLS with grpc-js's file-watcher credentials (docs/ownership.md "The agent
// library", `credentials`): the certificate files are re-read, so after cert-manager rotates them
// and keyway ages the connection out, the agent reconnects with the new certificate, no restart.
// `credentials.createSsl(ca, key, cert)` keeps the certificate it started with and stays out.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { credentials, experimental } from '@grpc/grpc-js';
import { pino } from 'pino';
import { OwnershipAgent, type OwnershipAgentOptions } from '../../src/agent/index.js';
import { ServingState } from '../../src/app/serving-state.js';
import { startXdsStage } from '../../src/app/xds-stage.js';
import type { XdsServer } from '../../src/xds/server/index.js';
import { eventually } from '../support/eventually.js';
import { makePki, opensslSkipReason, type CertFiles } from '../support/certs.js';
import { endpoint, handInput } from '../xds/translator/fixtures.js';

const FAST = { backoffInitialMs: 20, backoffMaxMs: 200, reportRetryMs: 20, dnsRefreshMs: 50 };
const SERVICE = 'keyway-replicas.keyway-system.svc.cluster.local';
const nodes = [endpoint('a', '10.0.0.1'), endpoint('b', '10.0.0.2'), endpoint('c', '10.0.0.3')];
const base = handInput(nodes, [['a', 'b'], ['b', 'c'], ['c', 'a'], ['a', 'c'], ['b', 'a'], ['c', 'b'], ['a', 'b'], ['b', 'c']]);

/** The node's files as mounted from its cert-manager Secret. */
function mount(dir: string, ca: string, leaf: CertFiles): { ca: string; cert: string; key: string } {
  mkdirSync(dir, { recursive: true });
  const files = { ca: path.join(dir, 'ca.crt'), cert: path.join(dir, 'tls.crt'), key: path.join(dir, 'tls.key') };
  copyFileSync(ca, files.ca);
  // The key first: a poll between the two writes sees a mismatched pair, rejected until the next one.
  copyFileSync(leaf.key, files.key);
  copyFileSync(leaf.cert, files.cert);
  return files;
}

/** Ids of the node's open streams, as numbers (keyway numbers streams in the order they open). */
function streamIds(server: XdsServer, nodeId: string): number[] {
  return (server.proxy(nodeId)?.streams ?? []).map((s) => Number(s.id));
}

async function rotation(t: TestContext, entry: 'host:port' | 'dns:///'): Promise<void> {
  const pki = makePki();
  t.after(() => pki.cleanup());
  const serverCa = pki.ca('server-ca');
  // Without an IP SAN the dns:/// link only passes if the name overrides the address for TLS.
  const serverCert = serverCa.issue('keyway', { cn: 'keyway', ...(entry === 'dns:///' ? { dns: [SERVICE] } : { ip: ['127.0.0.1'] }) });
  const oldCa = pki.ca('client-ca-1');
  const newCa = pki.ca('client-ca-2');
  const clientCaFile = path.join(pki.dir, 'keyway-client-ca.crt');
  copyFileSync(oldCa.cert, clientCaFile);
  const watched = mount(path.join(pki.dir, 'node-c'), serverCa.cert, oldCa.issue('c-1', { cn: 'c', dns: ['c'] }));
  const fixed = mount(path.join(pki.dir, 'node-a'), serverCa.cert, oldCa.issue('a-1', { cn: 'a', dns: ['a'] }));

  const state = new ServingState();
  state.publish({ map: base.shardMap, topology: base.topology });
  // keyway re-reads its client CA file and ages connections out: here every second, in production every 30 min.
  const s = await startXdsStage(
    { state, logger: pino({ level: 'silent' }), xdsPort: 0, host: '127.0.0.1' },
    { tls: { certFile: serverCert.cert, keyFile: serverCert.key, clientCaFile, reloadIntervalMs: 50 }, streamLimits: { maxConnectionAgeMs: 1_000, maxConnectionAgeGraceMs: 100 } },
  );
  t.after(() => s.close());
  const port = s.server.port;

  const provider = new experimental.FileWatcherCertificateProvider({ caCertificateFile: watched.ca, certificateFile: watched.cert, privateKeyFile: watched.key, refreshIntervalMs: 100 });
  const start = (opts: OwnershipAgentOptions): OwnershipAgent => {
    const a = new OwnershipAgent(opts);
    a.start();
    t.after(() => a.close());
    return a;
  };
  const servers = [entry === 'dns:///' ? `dns:///${SERVICE}:${port}` : `127.0.0.1:${port}`];
  const resolveHost = async (): Promise<string[]> => ['127.0.0.1'];
  const c = start({
    nodeId: 'c',
    servers,
    resolveHost,
    timing: FAST,
    credentials: experimental.createCertificateProviderChannelCredentials(provider, provider),
  });
  start({
    nodeId: 'a',
    servers,
    resolveHost,
    timing: FAST,
    credentials: credentials.createSsl(readFileSync(fixed.ca), readFileSync(fixed.key), readFileSync(fixed.cert)),
  });
  await eventually('node c gets its assignments over mTLS', () => c.assignments().size, { accept: (n) => n === 5 });
  await eventually('node a connected with its fixed certificate', () => s.server.connected('a'));

  // cert-manager rotates: new certificates for the same node ids from a new CA, which keyway now
  // trusts alone, so the old certificates cannot connect any more.
  mount(path.join(pki.dir, 'node-c'), serverCa.cert, newCa.issue('c-2', { cn: 'c', dns: ['c'] }));
  mount(path.join(pki.dir, 'node-a'), serverCa.cert, newCa.issue('a-2', { cn: 'a', dns: ['a'] }));
  copyFileSync(newCa.cert, clientCaFile);
  await sleep(200); // several of keyway's polls: a stream opening from here on was admitted under the new CA
  const before = Math.max(0, ...streamIds(s.server, 'a'), ...streamIds(s.server, 'c'));

  await eventually('node c reconnects with the rotated certificate', () => streamIds(s.server, 'c'), { accept: (ids) => ids.some((id) => id > before), timeoutMs: 15_000 });
  await eventually('node a, holding the certificate it started with, is out once its connection ages', () => !s.server.connected('a'), { timeoutMs: 15_000 });
  // Past another age-out of c's connection: it keeps reconnecting, a does not.
  const reconnected = Math.max(...streamIds(s.server, 'c'));
  await eventually('node c reconnects again', () => streamIds(s.server, 'c'), { accept: (ids) => ids.some((id) => id > reconnected), timeoutMs: 15_000 });
  assert.equal(s.server.connected('a'), false, 'the fixed certificate never gets back in');
  assert.equal(c.assignments().size, 5);
}

const skip = opensslSkipReason() ?? false;
test('mTLS with file-watcher credentials: after the files rotate the agent reconnects with the new certificate (host:port)', { skip }, (t) => rotation(t, 'host:port'));
test('mTLS with file-watcher credentials through a dns:/// entry: the name is checked, and rotation works the same', { skip }, (t) => rotation(t, 'dns:///'));
