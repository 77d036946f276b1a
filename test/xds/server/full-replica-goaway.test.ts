/**
 * A stream refused because the replica is full (KEYWAY_XDS_MAX_STREAMS, docs/security.md "xDS
 * streams") must let its client's retry reach another replica. The refusal ends only the stream;
 * an xDS client (grpc-js, Envoy) retries on the connection it has, so unless keyway also closes that
 * connection (GOAWAY) the retry lands on the same full replica, again and again, for as long as the
 * connection lives (30 min, KEYWAY_XDS_MAX_CONNECTION_AGE_MS; the retries keep it from idling out).
 * Here two replicas stand behind a TCP balancer like a Kubernetes Service: each new connection goes
 * where the test points it.
 */
import { test } from 'node:test';
import { eventually } from '../../support/eventually.js';
import assert from 'node:assert/strict';
import net from 'node:net';
import { create } from '@bufbuild/protobuf';
import { credentials, makeGenericClientConstructor, status as GrpcStatus, type Client, type ClientDuplexStream, type StatusObject } from '@grpc/grpc-js';
import { SnapshotCache } from '../../../src/xds/cache/index.js';
import { AggregatedDiscoveryService, DiscoveryRequestSchema, type DiscoveryRequest, type DiscoveryResponse } from '../../../src/xds/proto.js';
import { grpcServiceDefinition, startXdsServer, type XdsServer } from '../../../src/xds/server/index.js';
import { TYPE_URL } from '../../../src/xds/resources.js';
import { miniSet, type MiniTopology } from '../../support/xds-client/resources.js';

const Ads = makeGenericClientConstructor(grpcServiceDefinition(AggregatedDiscoveryService), 'ADS');

async function replica(t: { after(fn: () => unknown): void }, maxStreams: number, clusters: () => MiniTopology['clusters'] = () => ({ c0: [9001] })): Promise<XdsServer> {
  const cache = new SnapshotCache({ build: () => miniSet({ clusters: clusters() }), checkConsistency: () => [] });
  const server = await startXdsServer({ cache, port: 0, host: '127.0.0.1', limits: { maxStreams } });
  t.after(() => server.close());
  return Object.assign(server, { rebuild: () => cache.rebuild() });
}

/** A TCP balancer on 127.0.0.1: each new connection goes to the port `target()` names then. */
async function balancer(t: { after(fn: () => unknown): void }, target: () => number): Promise<number> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((downstream) => {
    const upstream = net.connect(target(), '127.0.0.1');
    for (const s of [downstream, upstream]) {
      sockets.add(s);
      s.on('error', () => s.destroy());
      s.on('close', () => sockets.delete(s));
    }
    downstream.pipe(upstream).pipe(downstream);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => {
    for (const s of sockets) s.destroy();
    server.close();
  });
  return (server.address() as net.AddressInfo).port;
}

/** One ADS stream on `client` asking for clusters as `nodeId`: resolves with its first response, or its status if it ends first. */
function firstAnswer(client: Client, nodeId: string): { readonly outcome: Promise<{ response?: DiscoveryResponse; status?: StatusObject }>; readonly call: ClientDuplexStream<DiscoveryRequest, DiscoveryResponse> } {
  const call = (client as unknown as { StreamAggregatedResources(): ClientDuplexStream<DiscoveryRequest, DiscoveryResponse> }).StreamAggregatedResources();
  const outcome = new Promise<{ response?: DiscoveryResponse; status?: StatusObject }>((resolve) => {
    call.on('data', (response: DiscoveryResponse) => resolve({ response }));
    call.on('status', (status: StatusObject) => resolve({ status }));
    call.on('error', () => {});
  });
  call.write(create(DiscoveryRequestSchema, { node: { id: nodeId, userAgentName: 'envoy' }, typeUrl: TYPE_URL.cluster }));
  return { outcome, call };
}

test('a client refused by a full replica gets its configuration from another replica on its next try', { timeout: 20_000 }, async (t) => {
  const full = await replica(t, 1);
  const roomy = await replica(t, 100);
  let target = full.port;
  const port = await balancer(t, () => target);

  // Another proxy fills the first replica.
  const holder = new Ads(`127.0.0.1:${port}`, credentials.createInsecure(), { 'grpc.use_local_subchannel_pool': 1 });
  t.after(() => holder.close());
  const held = firstAnswer(holder, 'envoy-holder');
  assert.ok((await held.outcome).response, 'the first proxy is served');
  t.after(() => held.call.cancel());

  const client = new Ads(`127.0.0.1:${port}`, credentials.createInsecure(), { 'grpc.use_local_subchannel_pool': 1 });
  t.after(() => client.close());
  const refused = await firstAnswer(client, 'envoy-late').outcome;
  assert.equal(refused.status?.code, GrpcStatus.RESOURCE_EXHAUSTED);
  assert.match(refused.status?.details ?? '', /KEYWAY_XDS_MAX_STREAMS\); retry later or on another replica/);

  // The Service now sends new connections to the other replica: the retry must be one of them.
  target = roomy.port;
  const retry = firstAnswer(client, 'envoy-late');
  t.after(() => retry.call.cancel());
  const answer = await retry.outcome;
  assert.equal(answer.status, undefined, `the retry was refused again: ${answer.status?.details}`);
  assert.ok(answer.response, 'the retry is served');
  assert.ok(roomy.proxy('envoy-late'), 'by the replica with room');
  assert.equal(full.proxy('envoy-late'), undefined);
  assert.ok(full.proxy('envoy-holder'), 'the full replica keeps the streams it serves');
});

test('a stream already on the connection of a refused one goes on: it still gets pushes', { timeout: 20_000 }, async (t) => {
  let clusters: MiniTopology['clusters'] = { c0: [9001] };
  const server = (await replica(t, 2, () => clusters)) as XdsServer & { rebuild(): void };
  const a = new Ads(`127.0.0.1:${server.port}`, credentials.createInsecure(), { 'grpc.use_local_subchannel_pool': 1 });
  const b = new Ads(`127.0.0.1:${server.port}`, credentials.createInsecure(), { 'grpc.use_local_subchannel_pool': 1 });
  t.after(() => [a, b].forEach((c) => c.close()));
  const kept = firstAnswer(a, 'envoy-a');
  const other = firstAnswer(b, 'envoy-b');
  t.after(() => [kept, other].forEach((s) => s.call.cancel()));
  assert.ok((await kept.outcome).response && (await other.outcome).response);

  // Full: a second stream on a's connection is refused, and that connection drained.
  const refused = await firstAnswer(a, 'envoy-a2').outcome;
  assert.equal(refused.status?.code, GrpcStatus.RESOURCE_EXHAUSTED);

  const pushes: DiscoveryResponse[] = [];
  kept.call.on('data', (r: DiscoveryResponse) => pushes.push(r));
  clusters = { c0: [9001], c1: [9002] };
  server.rebuild();
  await eventually('envoy-a gets the push on its stream', () => pushes.some((r) => r.resources.length === 2));
  assert.ok(server.proxy('envoy-a'));
});
