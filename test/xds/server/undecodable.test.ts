/**
 * A request that does not decode (docs/xds-protocol.md "Services"): the call ends with
 * INVALID_ARGUMENT naming the message type and why, keyway logs it with the peer, and the stream
 * is released at once. grpc-js alone answered INTERNAL "Error deserializing request" (a server
 * fault, to a client's retry logic and to the operator), logged nothing, and left the session to
 * learn of its end later.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { create, toBinary } from '@bufbuild/protobuf';
import { Metadata, status as GrpcStatus, type StatusObject } from '@grpc/grpc-js';
import { fourNodeTopology } from '../../support/keyway-in-process.js';
import { captureLogs, tempTopology } from '../../serve/support.js';
import { serveStages } from '../../../src/app/wiring.js';
import { startServer } from '../../../src/app/index.js';
import { createKeywayMetrics } from '../../../src/telemetry/index.js';
import { DiscoveryRequestSchema } from '../../../src/xds/proto.js';
import { TYPE_URL } from '../../../src/xds/resources.js';
import { deepStruct, lengthDelimited, rawBidi, rawClient, rawUnary } from './fuzz-kit.js';
import { eventually } from '../../support/eventually.js';

/** Field 1 (a string) announced 5 bytes long, none sent. */
const TRUNCATED = new Uint8Array([0x0a, 0x05]);
const ADS = '/envoy.service.discovery.v3.AggregatedDiscoveryService/StreamAggregatedResources';

test('an undecodable request ends its call with INVALID_ARGUMENT naming the message, logged with the peer', { timeout: 20_000 }, async (t) => {
  const { logger, records } = captureLogs('info');
  const topo = await tempTopology(fourNodeTopology([1, 1, 1, 1]));
  const metrics = createKeywayMetrics();
  const server = await startServer({ configFile: topo.file, httpPort: 0, xdsPort: 0, host: '127.0.0.1', logger, stages: serveStages({ metrics }) });
  const client = rawClient(server.listening.xdsPort!);
  t.after(async () => {
    client.close();
    await server.close();
    await metrics.shutdown();
    await topo.cleanup();
  });

  const cases: [string, string, (path: string, m: Uint8Array) => ReturnType<typeof rawUnary>][] = [
    [ADS, 'envoy.service.discovery.v3.DiscoveryRequest', (p, m) => rawBidi(client, p, [m], 'half-close', 5_000)],
    ['/envoy.service.discovery.v3.AggregatedDiscoveryService/DeltaAggregatedResources', 'envoy.service.discovery.v3.DeltaDiscoveryRequest', (p, m) => rawBidi(client, p, [m], 'half-close', 5_000)],
    ['/envoy.service.cluster.v3.ClusterDiscoveryService/StreamClusters', 'envoy.service.discovery.v3.DiscoveryRequest', (p, m) => rawBidi(client, p, [m], 'half-close', 5_000)],
    ['/keyway.v1.ShardOwnership/ReportWarm', 'keyway.v1.WarmReport', (p, m) => rawUnary(client, p, m, 5_000)],
    ['/keyway.v1.ShardOwnership/ReportLoad', 'keyway.v1.LoadReport', (p, m) => rawUnary(client, p, m, 5_000)],
  ];
  for (const [path, type, call] of cases) {
    const { status } = await call(path, TRUNCATED);
    assert.equal(status?.code, GrpcStatus.INVALID_ARGUMENT, `${path}: ${status?.details}`);
    assert.equal(status.details, `the request is not a valid ${type}: premature EOF`);
  }
  const warned = records.filter((r) => r.level === 40 && /is not a valid/.test(String(r.msg)));
  assert.equal(warned.length, cases.length, 'each one logged');
  assert.match(String(warned[0]!.peer), /^127\.0\.0\.1:\d+$/);

  // Node metadata nested deeper than protobuf-es decodes (100 levels): refused the same way, saying so.
  const w = new Uint8Array([...lengthDelimited(2, new Uint8Array([0x0a, 0x01, 0x61, ...lengthDelimited(3, deepStruct(200_000))]))]);
  const deep = await rawBidi(client, ADS, [w], 'half-close', 5_000);
  assert.equal(deep.status?.code, GrpcStatus.INVALID_ARGUMENT);
  assert.match(deep.status.details, /^the request is not a valid envoy\.service\.discovery\.v3\.DiscoveryRequest: .*maximum recursion depth/);
});

test('a stream that was answered and then sends an undecodable request ends with INVALID_ARGUMENT and is released', { timeout: 20_000 }, async (t) => {
  const topo = await tempTopology(fourNodeTopology([1, 1, 1, 1]));
  const metrics = createKeywayMetrics();
  const server = await startServer({ configFile: topo.file, httpPort: 0, xdsPort: 0, host: '127.0.0.1', stages: serveStages({ metrics }) });
  const client = rawClient(server.listening.xdsPort!);
  t.after(async () => {
    client.close();
    await server.close();
    await metrics.shutdown();
    await topo.cleanup();
  });
  const id = (b: Buffer): Buffer => b;
  const call = client.makeBidiStreamRequest(ADS, id, id, new Metadata());
  call.on('error', () => undefined);
  const status = new Promise<StatusObject>((resolve) => call.on('status', resolve));
  const first = new Promise<void>((resolve) => call.once('data', () => resolve()));
  call.write(Buffer.from(toBinary(DiscoveryRequestSchema, create(DiscoveryRequestSchema, { node: { id: 'envoy-then-garbage' }, typeUrl: TYPE_URL.cluster }))));
  await first;
  const proxies = async (): Promise<string[]> => ((await (await fetch(`http://127.0.0.1:${server.httpPort}/v1/proxies`)).json()) as { proxies: { id: string }[] }).proxies.map((p) => p.id);
  assert.deepEqual(await proxies(), ['envoy-then-garbage']);
  call.write(Buffer.from(TRUNCATED));
  const s = await status;
  assert.equal(s.code, GrpcStatus.INVALID_ARGUMENT, s.details);
  await eventually('the stream released', async () => ((await proxies()).length === 0 ? true : undefined), { timeoutMs: 5_000 });
});
