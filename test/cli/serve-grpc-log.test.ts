/**
 * `keyway serve` and grpc-js's own log (src/telemetry/grpc-log.ts): a client of the xDS port whose
 * calls carry metadata grpc-js refuses used to write one line per call to keyway's stderr, the
 * header quoted, outside the log and its bound; a stalled stderr reader kept every line in memory.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:http2';
import { tempTopology } from '../serve/support.js';
import { ONE_NODE_TOPOLOGY, SERVE_ON_LOOPBACK, startServe } from './support.js';

const ADS = '/envoy.service.discovery.v3.AggregatedDiscoveryService/StreamAggregatedResources';

/** Opens and resets `n` ADS streams whose metadata has a header grpc-js refuses (a `!` in its name). */
async function badMetadataStreams(port: number, n: number): Promise<void> {
  const session = connect(`http://127.0.0.1:${port}`);
  try {
    for (let i = 0; i < n; i++) {
      const req = session.request({ ':method': 'POST', ':path': ADS, 'content-type': 'application/grpc', te: 'trailers', 'x!bad': `value-${i}` });
      req.on('error', () => {});
      req.resume();
      req.end();
      const closed = new Promise((resolve) => req.on('close', resolve));
      req.close();
      await closed;
    }
  } finally {
    session.close();
  }
}

test("an xDS client's refused metadata: one rate-limited warn line in the log, nothing on stderr", async (t) => {
  const topo = await tempTopology(ONE_NODE_TOPOLOGY);
  t.after(() => topo.cleanup());
  const { child, exited, out, listening } = await startServe(topo.file, SERVE_ON_LOOPBACK, t);
  await badMetadataStreams(listening.xdsPort, 200);
  // The log's line is written as grpc-js parses the call: it is there once every stream is closed.
  const res = await fetch(`http://127.0.0.1:${listening.httpPort}/healthz`, { signal: AbortSignal.timeout(5000) });
  assert.equal(res.status, 200);
  child.kill('SIGTERM');
  assert.deepEqual(await exited, [0, null], out.stderr);
  // Before: 200 lines "E Failed to add metadata entry x!bad: value-N ..." on stderr.
  assert.equal(out.stderr, '');
  const grpcLines = out.stdout
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { level: number; msg: string; grpc?: boolean })
    .filter((l) => l.grpc === true);
  assert.equal(grpcLines.length, 1, JSON.stringify(grpcLines));
  assert.equal(grpcLines[0]!.level, 40);
  assert.match(grpcLines[0]!.msg, /^Failed to add metadata entry x!bad: value-0\./);
});
