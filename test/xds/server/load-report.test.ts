// ShardOwnership/ReportLoad on keyway's xDS server (docs/load-reports.md): a real gRPC client (the
// agent's server link) sends reports; valid ones reach the sink in keyway's shape, invalid ones are
// refused with INVALID_ARGUMENT naming the field; under mTLS a node reports only for itself.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { credentials, status as GrpcStatus, type ServiceError } from '@grpc/grpc-js';
import { pino } from 'pino';
import { MAX_REPORTED_SHARDS, type LoadReport, type LoadReportSink } from '../../../src/core/load.js';
import { LoadAggregate, MAX_REPORT_LATENESS_WINDOWS } from '../../../src/sources/load/index.js';
import { KeywayError } from '../../../src/core/errors.js';
import { ServerLink } from '../../../src/agent/server-link.js';
import { DEFAULT_AGENT_TIMING } from '../../../src/agent/index.js';
import { SnapshotCache } from '../../../src/xds/cache/index.js';
import { startXdsServer, type XdsServer, type XdsServerOptions } from '../../../src/xds/server/index.js';
import { checkConsistency, effectiveProxyClass, translate } from '../../../src/xds/translator/index.js';
import { makePki, opensslSkipReason } from '../../support/certs.js';
import { endpoint, handInput } from '../translator/fixtures.js';

const input = handInput([endpoint('a', '10.0.0.1'), endpoint('b', '10.0.0.2')], [['a', 'b'], ['b', 'a'], ['a', 'b'], ['b', 'a']]);
const W = 10_000;
const START = Math.floor(Date.now() / W) * W - W;

async function server(t: { after(fn: () => unknown): void }, extra: Partial<XdsServerOptions> = {}): Promise<XdsServer> {
  const cache = new SnapshotCache({ build: (c) => translate(input, c), checkConsistency, servedClass: effectiveProxyClass });
  const s = await startXdsServer({ cache, port: 0, host: '127.0.0.1', shardCount: () => 4, ...extra });
  t.after(() => s.close());
  return s;
}

function sink(): LoadReportSink & { reports: LoadReport[] } {
  const reports: LoadReport[] = [];
  return { reports, windowMs: () => W, reportLoad: (r) => reports.push(r) };
}

function link(t: { after(fn: () => unknown): void }, port: number, nodeId: string, creds = credentials.createInsecure()): ServerLink {
  const l = new ServerLink(`127.0.0.1:${port}`, nodeId, DEFAULT_AGENT_TIMING, () => {}, () => {}, creds);
  t.after(() => l.close());
  return l;
}

const report = (over: Partial<LoadReport> = {}): LoadReport => ({ nodeId: 'a', windowStartMs: START, windowMs: W, totalRequests: 100, shards: [{ shard: 3, requests: 40 }, { shard: 1, requests: 10 }], ...over });

async function refused(p: Promise<unknown>, code: GrpcStatus, details: RegExp): Promise<void> {
  await assert.rejects(p, (err: ServiceError) => {
    assert.equal(err.code, code, err.details);
    assert.match(err.details, details);
    return true;
  });
}

test('ReportLoad: a valid report reaches the sink, shards ascending; the reply counts them', async (t) => {
  const k = sink();
  const s = await server(t, { load: k });
  const reply = await link(t, s.port, 'a').reportLoad(report());
  assert.equal(reply.acceptedShards, 2);
  assert.deepEqual(k.reports, [{ nodeId: 'a', windowStartMs: START, windowMs: W, totalRequests: 100, shards: [{ shard: 1, requests: 10 }, { shard: 3, requests: 40 }] }]);
});

test('ReportLoad refuses malformed reports with INVALID_ARGUMENT naming the field, and none reaches the sink', async (t) => {
  const k = sink();
  const s = await server(t, { load: k });
  const l = link(t, s.port, 'a');
  await refused(l.reportLoad(report({ windowMs: 5_000, windowStartMs: START })), GrpcStatus.INVALID_ARGUMENT, /^window_ms: 5000, but keyway's load window is 10000 ms/);
  await refused(l.reportLoad(report({ windowStartMs: START + 1 })), GrpcStatus.INVALID_ARGUMENT, /^window_start_unix_ms: \d+ is not a positive multiple of window_ms 10000/);
  await refused(l.reportLoad(report({ windowStartMs: START + 10 * W })), GrpcStatus.INVALID_ARGUMENT, /more than one window ahead of keyway's clock/);
  await refused(l.reportLoad(report({ shards: [{ shard: 4, requests: 1 }] })), GrpcStatus.INVALID_ARGUMENT, /^shards\[0\]\.shard: 4 is not a shard \(shard count is 4/);
  await refused(l.reportLoad(report({ shards: [{ shard: 2, requests: 1 }, { shard: 2, requests: 1 }] })), GrpcStatus.INVALID_ARGUMENT, /^shards\[1\]\.shard: 2 is listed twice/);
  await refused(l.reportLoad(report({ totalRequests: 5 })), GrpcStatus.INVALID_ARGUMENT, /^total_requests: 5 is less than the listed shards' requests \(50\)/);
  const tooMany = Array.from({ length: MAX_REPORTED_SHARDS + 1 }, (_, i) => ({ shard: i % 4, requests: 0 }));
  await refused(l.reportLoad(report({ shards: tooMany })), GrpcStatus.INVALID_ARGUMENT, new RegExp(`^shards: ${MAX_REPORTED_SHARDS + 1} entries, the limit is ${MAX_REPORTED_SHARDS}`));
  await refused(link(t, s.port, '').reportLoad(report()), GrpcStatus.INVALID_ARGUMENT, /^node_id: empty/);
  assert.equal(k.reports.length, 0);
});

test('ReportLoad without a sink answers UNIMPLEMENTED; before the first map UNAVAILABLE', async (t) => {
  const s = await server(t);
  await refused(link(t, s.port, 'a').reportLoad(report()), GrpcStatus.UNIMPLEMENTED, /takes no load reports/);
  const early = await server(t, { load: sink(), shardCount: () => undefined });
  await refused(link(t, early.port, 'a').reportLoad(report()), GrpcStatus.UNAVAILABLE, /no shard map yet/);
});

const noOpenssl = opensslSkipReason();
test('ReportLoad under mTLS: a node reports for the id its certificate names, not for another', { skip: noOpenssl ?? false }, async (t) => {
  const pki = makePki();
  t.after(() => pki.cleanup());
  const ca = pki.ca('ca');
  const serverCert = ca.issue('keyway', { cn: 'keyway', ip: ['127.0.0.1'] });
  const nodeCert = ca.issue('node-a', { cn: 'a', dns: ['a'] });
  const k = sink();
  const s = await server(t, { load: k, tls: { certFile: serverCert.cert, keyFile: serverCert.key, clientCaFile: ca.cert } });
  const creds = () => credentials.createSsl(readFileSync(ca.cert), readFileSync(nodeCert.key), readFileSync(nodeCert.cert));
  await link(t, s.port, 'a', creds()).reportLoad(report());
  await refused(link(t, s.port, 'b', creds()).reportLoad(report({ nodeId: 'b' })), GrpcStatus.PERMISSION_DENIED, /.+/);
  assert.deepEqual(k.reports.map((r) => r.nodeId), ['a']);
});

test('ReportLoad takes load only from endpoints of the map: another node id is refused with FAILED_PRECONDITION', async (t) => {
  const k = sink();
  const s = await server(t, { load: k, isEndpoint: (id) => id === 'a' || id === 'b' });
  await refused(link(t, s.port, 'stranger').reportLoad(report({ nodeId: 'stranger' })), GrpcStatus.FAILED_PRECONDITION, /^node_id: "stranger" is not an endpoint of keyway's shard map/);
  assert.equal(k.reports.length, 0, 'nothing of it reaches the sink (nor a metric series)');
  assert.equal((await link(t, s.port, 'b').reportLoad(report({ nodeId: 'b' }))).acceptedShards, 2);
  assert.deepEqual(k.reports.map((r) => r.nodeId), ['b']);
});

test('refused reports sent in a loop are logged once per burst and code, not a line each', async (t) => {
  const lines: { level: number; msg: string }[] = [];
  const logger = pino({ level: 'info' }, { write: (line: string) => void lines.push(JSON.parse(line) as { level: number; msg: string }) });
  const s = await server(t, { load: sink(), isEndpoint: (id) => id === 'a', logger });
  const l = link(t, s.port, 'stranger');
  for (let i = 0; i < 20; i++) {
    await refused(l.reportLoad(report({ nodeId: `stranger-${i}` })), GrpcStatus.FAILED_PRECONDITION, /is not an endpoint/);
  }
  const refusals = lines.filter((x) => x.msg.includes('report refused'));
  assert.equal(refusals.length, 1, refusals.map((x) => x.msg).join('\n'));
  assert.match(refusals[0]!.msg, /ReportLoad FAILED_PRECONDITION/);
});

test('a report too late for the aggregate (the node clock far behind) is refused FAILED_PRECONDITION naming the window, not INTERNAL', async (t) => {
  const agg = new LoadAggregate({ windowMs: () => W });
  const s = await server(t, { load: agg });
  const a = link(t, s.port, 'a');
  assert.equal((await a.reportLoad(report())).acceptedShards, 2);
  const late = START - MAX_REPORT_LATENESS_WINDOWS * W;
  await refused(a.reportLoad(report({ windowStartMs: late })), GrpcStatus.FAILED_PRECONDITION, new RegExp(`^window_start_unix_ms: window ${late} from a is ${MAX_REPORT_LATENESS_WINDOWS} windows behind`));
});

test('a report at a limit of the sink is refused RESOURCE_EXHAUSTED with its message; any other sink failure stays INTERNAL', async (t) => {
  const failing = (err: Error): LoadReportSink => ({ windowMs: () => W, reportLoad: () => { throw err; } });
  const full = await server(t, { load: failing(new KeywayError('LIMIT_EXCEEDED', 'window 0 already holds reports from 4096 nodes (the limit)')) });
  await refused(link(t, full.port, 'a').reportLoad(report()), GrpcStatus.RESOURCE_EXHAUSTED, /^window 0 already holds reports from 4096 nodes \(the limit\)$/);
  const broken = await server(t, { load: failing(new Error('disk on fire')) });
  await refused(link(t, broken.port, 'a').reportLoad(report()), GrpcStatus.INTERNAL, /^load report not recorded: disk on fire$/);
});
