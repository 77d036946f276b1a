// The ownership stream on keyway's xDS server (docs/ownership.md "The ownership stream" and
// "ReportWarm"): an agent's delta subscription, its /v1/proxies row and config dump beside an
// Envoy's, and ReportWarm's checks, with a real server and the protocol-checking client.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import { Client, credentials, status as GrpcStatus, type ServiceError } from '@grpc/grpc-js';
import type { WarmReport as CoreWarmReport } from '../../../src/core/handoff.js';
import { SnapshotCache } from '../../../src/xds/cache/index.js';
import { WarmReportReplySchema, WarmReportSchema, type ShardAssignment, type WarmReportReply } from '../../../src/xds/proto.js';
import { startXdsServer, type XdsServer, type XdsServerOptions } from '../../../src/xds/server/index.js';
import { checkConsistency, effectiveProxyClass, translate } from '../../../src/xds/translator/index.js';
import { XdsTestClient } from '../../support/xds-client/xds-client.js';
import { eventually } from '../../support/eventually.js';
import { endpoint, handInput } from '../translator/fixtures.js';

const input = handInput(
  [endpoint('a', '10.0.0.1'), endpoint('b', '10.0.0.2'), endpoint('c', '10.0.0.3')],
  [['a', 'b'], ['b', 'c'], ['c', 'a'], ['a', 'c']],
);

async function server(t: { after(fn: () => unknown): void }, extra: Partial<XdsServerOptions> = {}): Promise<XdsServer> {
  const cache = new SnapshotCache({ build: (c) => translate(input, c), checkConsistency, servedClass: effectiveProxyClass });
  const s = await startXdsServer({ cache, port: 0, host: '127.0.0.1', ...extra });
  t.after(() => s.close());
  return s;
}

test('an agent subscribes with an empty first delta request (wildcard) and gets its assignments only; its row lists the assignment kind', async (t) => {
  const s = await server(t);
  const agent = new XdsTestClient({ port: s.port, node: { id: 'a', userAgentName: 'keyway-agent' }, protocol: 'delta' });
  const envoy = new XdsTestClient({ port: s.port, node: { id: 'envoy-1' }, protocol: 'delta' });
  t.after(() => {
    agent.close();
    envoy.close();
  });
  agent.delta('assignment');
  const r = await agent.expect('assignment');
  assert.deepEqual(r.resources.map((x) => x.name), ['0', '2', '3']);
  assert.deepEqual(
    r.resources.map((x) => (x.message as ShardAssignment).role),
    [1, 2, 1],
    'PRIMARY of 0 and 3, REPLICA of 2',
  );
  agent.ack('assignment');
  // An agent asking for Envoy kinds gets nothing of them (its class has none).
  agent.delta('cluster');
  assert.deepEqual((await agent.expect('cluster')).resources, []);

  envoy.delta('cluster');
  await envoy.expect('cluster');
  envoy.ack('cluster');
  envoy.delta('assignment', { subscribe: ['*'] });
  const none = await envoy.expect('assignment');
  assert.deepEqual(none.resources, [], 'an Envoy is served no assignment');

  const row = await eventually('agent ACK recorded', () => s.proxy('a'), { accept: (p) => p?.types.assignment?.status === 'SYNCED' });
  assert.equal(row!.flavor, 'agent');
  assert.equal(row!.proxyClass, 'agent|||a');
  assert.deepEqual(Object.keys(row!.types), ['assignment'], "an agent's row shows its assignment kind only");
  assert.equal(row!.types.assignment!.resources, 3);
  assert.deepEqual(Object.keys(s.proxy('envoy-1')!.types), ['cluster', 'endpoint', 'listener', 'route'], 'an Envoy row keeps its four kinds');
  assert.deepEqual([...s.nodeIds('agent')], ['a'], 'the agents among the connected nodes (the handoff planner asks on every change)');
  assert.deepEqual([...s.nodeIds('envoy')], ['envoy-1']);

  const dump = s.configDump('a') as { configs: Record<string, unknown>[] };
  assert.deepEqual(
    dump.configs.map((c) => [c['@type'], c.shard ?? 0]),
    [
      ['type.googleapis.com/keyway.v1.ShardAssignment', 0],
      ['type.googleapis.com/keyway.v1.ShardAssignment', 2],
      ['type.googleapis.com/keyway.v1.ShardAssignment', 3],
    ],
  );
});

/** Calls ReportWarm on `port` the way the agent does. */
function reportWarm(port: number, report: { nodeId: string; shards: number[]; warmed?: { shard: number; untilUnixMs: bigint }[] }): Promise<WarmReportReply> {
  const client = new Client(`127.0.0.1:${port}`, credentials.createInsecure());
  return new Promise<WarmReportReply>((resolve, reject) => {
    client.makeUnaryRequest(
      '/keyway.v1.ShardOwnership/ReportWarm',
      (m: ReturnType<typeof create<typeof WarmReportSchema>>) => Buffer.from(toBinary(WarmReportSchema, m)),
      (b: Buffer) => fromBinary(WarmReportReplySchema, b),
      create(WarmReportSchema, report),
      (err: ServiceError | null, reply?: WarmReportReply) => (err ? reject(err) : resolve(reply!)),
    );
  }).finally(() => client.close());
}

test('ReportWarm: checks node_id and shards, hands valid reports to the sink and echoes the shards', async (t) => {
  const reports: CoreWarmReport[] = [];
  const s = await server(t, { warm: { reportWarm: (r) => void reports.push(r) }, shardCount: () => 4 });

  const reply = await reportWarm(s.port, { nodeId: 'c', shards: [3, 1, 3] });
  assert.deepEqual(reply.accepted, [1, 3], 'distinct, ascending');
  assert.deepEqual(reports, [{ node: 'c', shards: [1, 3] }]);

  await assert.rejects(reportWarm(s.port, { nodeId: '', shards: [1] }), (err: ServiceError) => {
    assert.equal(err.code, GrpcStatus.INVALID_ARGUMENT);
    assert.match(err.details, /^node_id: empty/);
    return true;
  });
  await assert.rejects(reportWarm(s.port, { nodeId: 'c', shards: [0, 4] }), (err: ServiceError) => {
    assert.equal(err.code, GrpcStatus.INVALID_ARGUMENT);
    assert.match(err.details, /^shards\[1\]: 4 is not a shard \(shard count is 4/);
    return true;
  });
  assert.equal(reports.length, 1, 'refused reports never reach the sink');
});

test('ReportWarm: a warmed entry names its move; a shard also in shards is judged by its entry alone; entries the sink finds stale are not accepted', async (t) => {
  const reports: CoreWarmReport[] = [];
  const s = await server(t, {
    warm: {
      reportWarm: (r) => {
        reports.push(r);
        return { stale: [2] };
      },
    },
    shardCount: () => 4,
  });
  const reply = await reportWarm(s.port, {
    nodeId: 'c',
    shards: [0, 1, 2],
    warmed: [
      { shard: 2, untilUnixMs: 1_000n },
      { shard: 1, untilUnixMs: 2_000n },
      { shard: 1, untilUnixMs: 2_000n },
    ],
  });
  assert.deepEqual(reports, [{ node: 'c', shards: [0], moves: [{ shard: 1, untilUnixMs: 2_000 }, { shard: 2, untilUnixMs: 1_000 }] }]);
  assert.deepEqual(reply.accepted, [0, 1], 'shard 2 named a move the sink does not run');

  await assert.rejects(reportWarm(s.port, { nodeId: 'c', shards: [], warmed: [{ shard: 1, untilUnixMs: 1n }, { shard: 4, untilUnixMs: 1n }] }), (err: ServiceError) => {
    assert.equal(err.code, GrpcStatus.INVALID_ARGUMENT);
    assert.match(err.details, /^warmed\[1\]\.shard: 4 is not a shard \(shard count is 4/);
    return true;
  });
  await assert.rejects(reportWarm(s.port, { nodeId: 'c', shards: [], warmed: [{ shard: 1, untilUnixMs: 0n }] }), (err: ServiceError) => {
    assert.equal(err.code, GrpcStatus.INVALID_ARGUMENT);
    assert.match(err.details, /^warmed\[0\]\.until_unix_ms: 0 is no deadline/);
    return true;
  });
  assert.equal(reports.length, 1, 'refused reports never reach the sink');
});

test('ReportWarm refuses a node_id past maxNodeIdLength (RESOURCE_EXHAUSTED), quoting only its start', async (t) => {
  const reports: CoreWarmReport[] = [];
  const s = await server(t, { warm: { reportWarm: (r) => void reports.push(r) }, shardCount: () => 4, limits: { maxNodeIdLength: 8 } });
  await assert.rejects(reportWarm(s.port, { nodeId: 'c'.repeat(100_000), shards: [1] }), (err: ServiceError) => {
    assert.equal(err.code, GrpcStatus.RESOURCE_EXHAUSTED);
    assert.match(err.details, /^LIMIT_EXCEEDED: node id "c+…" has 100000 characters \(the limit is 8, KEYWAY_XDS_MAX_NODE_ID_LENGTH\)$/);
    assert.ok(err.details.length < 200);
    return true;
  });
  assert.deepEqual(reports, []);
  assert.deepEqual((await reportWarm(s.port, { nodeId: 'c'.repeat(8), shards: [1] })).accepted, [1]);
});

test('ReportWarm without a sink answers UNIMPLEMENTED with the reason', async (t) => {
  const s = await server(t);
  await assert.rejects(reportWarm(s.port, { nodeId: 'c', shards: [1] }), (err: ServiceError) => {
    assert.equal(err.code, GrpcStatus.UNIMPLEMENTED);
    assert.match(err.details, /takes no warm reports/);
    return true;
  });
});
