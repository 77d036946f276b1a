/**
 * A proxy that reads its stream slowly but steadily (a slow link, a busy proxy) while keyway writes
 * it a response larger than it takes in the stall time (docs/security.md "xDS streams"): keyway
 * must see the progress and go on, not reset the stream as one that reads nothing (it would get
 * the same response at each reconnect and be reset again, never configured). A stream that reads
 * nothing is still reset once the stall time passes.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import { SnapshotCache } from '../../../src/xds/cache/index.js';
import { startXdsServer } from '../../../src/xds/server/index.js';
import { apiListener, edsCluster, loadAssignment, resourceSet, shardRoutes } from '../../support/xds-client/resources.js';
import { connect, openStream, sotwRequest } from '../../../e2e/support/xds-raw.js';
import { fromBinary } from '@bufbuild/protobuf';
import { DiscoveryResponseSchema, RouteConfigurationSchema } from '../../../src/xds/proto.js';

const STALL_MS = 3000;
/** What the slow proxy takes per tick: about 300 KB/s, 8 s for the route configuration below. */
const READ_BYTES = 16 * 1024;
const TICK_MS = 50;
const SHARDS = 40_000;

test('a proxy reading a large response slowly but steadily is not reset; one reading nothing is', { timeout: 30_000 }, async (t) => {
  // One route per shard: a route configuration of about 2.6 MB, like a large gRPC class's.
  const byShard: Record<string, string> = {};
  for (let i = 0; i < SHARDS; i++) byShard[String(i)] = `cache-node-with-a-long-name-${i % 7}`;
  const set = resourceSet({ cluster: [edsCluster('c0')], endpoint: [loadAssignment('c0', [{ port: 1 }])], listener: [apiListener('cache.svc', 'r')], route: [shardRoutes('r', byShard, 'c0')] });
  const cache = new SnapshotCache({ build: () => set, checkConsistency: () => [] });
  const server = await startXdsServer({ cache, port: 0, host: '127.0.0.1', limits: { writeStallMs: STALL_MS } });
  t.after(() => server.close());

  // A small HTTP/2 window: keyway can send little more than what the proxy has read.
  const session = http2.connect(`http://127.0.0.1:${server.port}`, { settings: { initialWindowSize: 16 * 1024 } });
  session.on('error', () => undefined);
  t.after(() => session.destroy());
  const stream = session.request({ ':method': 'POST', ':path': '/envoy.service.discovery.v3.AggregatedDiscoveryService/StreamAggregatedResources', 'content-type': 'application/grpc', te: 'trailers' });
  let reset: number | undefined;
  stream.on('error', () => undefined);
  stream.on('close', () => (reset = stream.rstCode));
  stream.pause();
  stream.write(sotwRequest({ id: 'slow-proxy', userAgentName: 'envoy' }, 'route', ['r']));

  const started = Date.now();
  let read = 0;
  let frame: number | undefined;
  const taken: Buffer[] = [];
  await new Promise<void>((resolve, reject) => {
    const tick = setInterval(() => {
      let n = 0;
      for (let chunk: Buffer | null; n < READ_BYTES && (chunk = stream.read() as Buffer | null) !== null; ) {
        // Takes at most READ_BYTES a tick; what is over goes back for the next one.
        const take = Math.min(chunk.length, READ_BYTES - n);
        if (take < chunk.length) stream.unshift(chunk.subarray(take));
        taken.push(chunk.subarray(0, take));
        n += take;
        read += take;
      }
      if (frame === undefined && read >= 5) frame = 5 + Buffer.concat(taken).readUInt32BE(1);
      if (frame !== undefined && read >= frame) {
        clearInterval(tick);
        resolve();
      } else if (reset !== undefined || Date.now() - started > 20_000) {
        clearInterval(tick);
        reject(new Error(`the slow proxy's stream ended (RST_STREAM ${reset}) after ${Date.now() - started} ms, having read ${read} of ${frame ?? '?'} bytes`));
      }
    }, TICK_MS);
  });
  const took = Date.now() - started;
  assert.ok(took > 2 * STALL_MS, `the response took ${took} ms to read: longer than the stall time, or this test shows nothing`);
  assert.equal(reset, undefined, 'the slow proxy keeps its stream');
  t.diagnostic(`read ${read} bytes in ${took} ms`);
  // The response arrived whole, in one gRPC frame, however keyway wrote it.
  const bytes = Buffer.concat(taken);
  assert.equal(bytes[0], 0, 'an uncompressed gRPC frame');
  const response = fromBinary(DiscoveryResponseSchema, bytes.subarray(5, frame));
  assert.equal(response.resources.length, 1);
  const routes = fromBinary(RouteConfigurationSchema, response.resources[0]!.value);
  assert.equal(routes.virtualHosts[0]!.routes.length, SHARDS + 1);

  // A proxy that reads nothing is still reset after the stall time.
  const other = connect(server.port);
  t.after(() => other.destroy());
  const idle = openStream(other, sotwRequest({ id: 'stuck-proxy', userAgentName: 'envoy' }, 'route', ['r']), { read: false });
  const ended = await idle.ended;
  assert.equal(ended.rstCode, http2.constants.NGHTTP2_ENHANCE_YOUR_CALM);
});
