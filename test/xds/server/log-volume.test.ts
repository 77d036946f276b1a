/**
 * The log a fleet's churn and a client's loop write (docs/observability.md "Logs"): streams opening
 * and closing, NACKs, requests that do not decode and streams ended over a limit each wrote a line
 * per stream or request (a NACK's ~4.4 KB), so the log grew with the fleet and with any client's
 * loop. Now: one summary line per minute for streams, one line per burst with a count for the rest,
 * each naming the proxy or peer it is about.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { status as GrpcStatus } from '@grpc/grpc-js';
import { SnapshotCache } from '../../../src/xds/cache/index.js';
import { startXdsServer, type XdsServer } from '../../../src/xds/server/index.js';
import type { XdsStreamLimits } from '../../../src/xds/server/stream-limits.js';
import { miniSet, type MiniTopology } from '../../support/xds-client/resources.js';
import { XdsTestClient } from '../../support/xds-client/xds-client.js';
import { captureLogs } from '../../serve/support.js';
import { StreamChurnLog } from '../../../src/xds/server/stream-churn-log.js';
import { RefusalLog } from '../../../src/xds/server/refusal-log.js';
import { pool, rawBidi, rawClient, rawUnary } from './fuzz-kit.js';

const TOPO: MiniTopology = { clusters: { c0: [9001, 9002] } };
const INFO = 30;
const WARN = 40;

async function server(t: { after(fn: () => Promise<void>): void }, limits?: Partial<XdsStreamLimits>): Promise<{ xds: XdsServer; records: ReturnType<typeof captureLogs>['records'] }> {
  const { logger, records } = captureLogs('info');
  const cache = new SnapshotCache({ build: () => miniSet(TOPO), checkConsistency: () => [] });
  const xds = await startXdsServer({ cache, port: 0, host: '127.0.0.1', logger, ...(limits && { limits }) });
  let closed = false;
  t.after(async () => {
    if (!closed) await xds.close();
  });
  return {
    xds: { ...xds, close: async () => { closed = true; await xds.close(); } },
    records,
  };
}

/** Records logged while `run` ran and at the server's close (which ends bursts and summaries), less listen/close lines. */
async function logged(s: Awaited<ReturnType<typeof server>>, run: () => Promise<void>) {
  const from = s.records.length;
  await run();
  await s.xds.close();
  return s.records.slice(from).filter((r) => !/^xDS server (listening|closed)/.test(String(r.msg)));
}

test('streams opening and closing: no line per stream at info, one summary with the counts', { timeout: 60_000 }, async (t) => {
  const s = await server(t);
  const records = await logged(s, async () => {
    await pool(20, 200, async (i) => {
      const c = new XdsTestClient({ port: s.xds.port, node: { id: `envoy-churn-${i}`, userAgentName: 'envoy' } });
      c.request('cluster');
      await c.expect('cluster');
      c.close();
      await c.finished;
    });
  });
  assert.ok(records.length <= 2, records.map((r) => r.msg).join('\n'));
  const summary = records.find((r) => r.opened !== undefined) as { opened: Record<string, number>; closed: number; level: number } | undefined;
  assert.ok(summary, 'a summary line');
  assert.equal(summary.level, INFO);
  assert.deepEqual(summary.opened, { envoy: 200 });
  // Closing the server ends streams not yet seen closed: every one is counted by the summary.
  assert.equal(summary.closed, 200);
});

test('a fleet NACKing one version logs one line naming the first proxy, then the count; long errors stay cut', { timeout: 60_000 }, async (t) => {
  const s = await server(t);
  const error = 'e'.repeat(20_000);
  const records = await logged(s, async () => {
    await pool(20, 100, async (i) => {
      const c = new XdsTestClient({ port: s.xds.port, node: { id: `envoy-nack-${i}`, userAgentName: 'envoy' } });
      c.request('cluster');
      await c.expect('cluster');
      c.nack('cluster', error);
      // Answered once the server has read the NACK: the barrier of a second request on its stream.
      c.request('listener');
      await c.expect('listener');
      c.close();
      await c.finished;
    });
  });
  const warns = records.filter((r) => r.level === WARN);
  assert.equal(warns.length, 1, warns.map((r) => r.msg).join('\n'));
  assert.match(String(warns[0]!.msg), /^NACK: proxy rejected the version sent/);
  assert.match(String(warns[0]!.node), /^envoy-nack-\d+$/, 'the line names the proxy');
  assert.equal(warns[0]!.kind, 'cluster');
  for (const r of records) assert.ok(JSON.stringify(r).length < 8192, `a line of ${JSON.stringify(r).length} bytes`);
  const counted = records.find((r) => r.nacks !== undefined);
  assert.equal(counted?.nacks, 100);
});

test('requests that do not decode, sent in a loop: one line per method with the peer, then the count', { timeout: 60_000 }, async (t) => {
  const s = await server(t);
  const garbage = new Uint8Array([0x0a, 0x05]);
  const ads = '/envoy.service.discovery.v3.AggregatedDiscoveryService/StreamAggregatedResources';
  const load = '/keyway.v1.ShardOwnership/ReportLoad';
  const client = rawClient(s.xds.port);
  const records = await logged(s, async () => {
    await pool(10, 100, async () => {
      const { status } = await rawBidi(client, ads, [garbage], 'half-close', 5_000);
      assert.equal(status?.code, GrpcStatus.INVALID_ARGUMENT);
    });
    await pool(10, 100, async () => {
      const { status } = await rawUnary(client, load, garbage, 5_000);
      // No load sink here: the call still refuses the bytes first.
      assert.equal(status?.code, GrpcStatus.INVALID_ARGUMENT);
    });
    client.close();
  });
  const warns = records.filter((r) => r.level === WARN);
  assert.equal(warns.length, 2, warns.map((r) => r.msg).join('\n'));
  for (const w of warns) assert.match(String(w.peer), /^(ipv4:)?127\.0\.0\.1:\d+$/);
  assert.deepEqual(records.filter((r) => r.refused !== undefined).map((r) => r.refused), [100, 100]);
});

test('streams ended over a per-stream limit, in a loop: one line with the reason, then the count', { timeout: 60_000 }, async (t) => {
  const s = await server(t, { maxNamesPerSubscription: 2 });
  const records = await logged(s, async () => {
    await pool(10, 100, async (i) => {
      const c = new XdsTestClient({ port: s.xds.port, node: { id: `envoy-over-${i}`, userAgentName: 'envoy' } });
      c.request('endpoint', ['a', 'b', 'c']);
      const status = await c.finished;
      assert.equal(status.code, GrpcStatus.RESOURCE_EXHAUSTED);
      c.close();
    });
  });
  const warns = records.filter((r) => r.level === WARN);
  assert.equal(warns.length, 1, warns.map((r) => r.msg).join('\n'));
  assert.match(String(warns[0]!.msg), /LIMIT_EXCEEDED: the endpoint subscription of 3 names/);
  assert.equal(warns[0]!.limit, 'KEYWAY_XDS_MAX_NAMES_PER_SUBSCRIPTION');
  assert.deepEqual(records.filter((r) => r.refused !== undefined).map((r) => r.refused), [100]);
});

test('the stream summary comes at most once per interval, and not at all while no stream opens or closes', { timeout: 10_000 }, async () => {
  const { logger, records } = captureLogs('info');
  let open = 0;
  const churn = new StreamChurnLog(logger, () => open, 100);
  for (let i = 0; i < 500; i++) {
    churn.opened(i % 2 ? 'grpc' : 'envoy');
    open++;
  }
  churn.closed();
  open--;
  assert.equal(records.length, 0, 'nothing before the interval ends');
  await new Promise((r) => setTimeout(r, 250));
  assert.deepEqual(records.map((r) => [r.opened, r.closed, r.open]), [[{ envoy: 250, grpc: 250 }, 1, 499]]);
  await new Promise((r) => setTimeout(r, 250));
  churn.close();
  assert.equal(records.length, 1, 'an idle interval logs nothing');
});

test("a burst of keyway's own faults is logged once, at error, then counted", () => {
  const { logger, records } = captureLogs('info');
  const faults = new RefusalLog(logger, 10_000, 'ProcessingRequests refused');
  for (let i = 0; i < 5; i++) faults.refused('INTERNAL', { peer: 'ipv4:127.0.0.1:1' }, 'endpoint picker failed on a ProcessingRequest', 'error');
  faults.close();
  assert.deepEqual(records.map((r) => [r.level, r.limit, r.refused]), [[50, 'INTERNAL', undefined], [30, 'INTERNAL', 5]]);
});
