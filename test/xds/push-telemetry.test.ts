/**
 * The xDS stage's push telemetry: which responses belong to a published change, when it converges
 * (the ACK of the last proxy it pushed to), and what NACKs, superseding changes and departing
 * proxies do to it. Driven through the server's event callbacks, as the real server calls them.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import { trace } from '@opentelemetry/api';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import type { ChangeCause, ServingView } from '../../src/core/serving.js';
import type { KeywayMetrics } from '../../src/telemetry/index.js';
import { pushTelemetry } from '../../src/app/push-telemetry.js';
import type { ResourceKind } from '../../src/xds/resources.js';

function recorder() {
  const calls = { pushes: [] as [string, number][], nacks: [] as string[], convergence: [] as number[], refused: [] as string[], overLimit: [] as string[] };
  const metrics = {
    recordPush: (type: string, s: number) => void calls.pushes.push([type, s]),
    recordNack: (type: string) => void calls.nacks.push(type),
    recordConvergence: (s: number) => void calls.convergence.push(s),
    recordStreamRefused: (limit: string) => void calls.refused.push(limit),
    recordStreamOverLimit: (reason: string) => void calls.overLimit.push(reason),
  } as unknown as KeywayMetrics;
  return { calls, metrics };
}

let seq = 0;
function view(version: string): ServingView {
  return { sequence: ++seq, map: { version }, updatedAt: new Date() } as unknown as ServingView;
}

function setup(connected: Set<string> = new Set(['a', 'b'])) {
  const { calls, metrics } = recorder();
  const t = pushTelemetry({ metrics, logger: pino({ level: 'silent' }), connected: (id) => connected.has(id) });
  let nonce = 0;
  const sent = (nodeId: string, kind: ResourceKind = 'endpoint') =>
    t.events.sent!({ nodeId, streamId: nodeId, kind, version: 'v', nonce: String(++nonce), resources: 1, at: Date.now() });
  const acked = (nodeId: string, kind: ResourceKind = 'endpoint') =>
    t.events.acked!({ nodeId, streamId: nodeId, kind, version: 'v', sentAt: Date.now() - 5, at: Date.now() });
  const nacked = (nodeId: string, kind: ResourceKind = 'endpoint') =>
    t.events.nacked!({ nodeId, streamId: nodeId, kind, version: 'v', sentAt: Date.now() - 5, at: Date.now(), message: 'bad' });
  return { t, calls, sent, acked, nacked };
}

test('a change converges at the ACK of the last proxy it pushed to; answers count as pushes by type', () => {
  const { t, calls, sent, acked } = setup();
  t.published(view('m1'), 'file');
  t.pushing(() => {
    sent('a');
    sent('b');
    sent('b', 'route');
  });
  acked('a');
  acked('b');
  assert.equal(calls.convergence.length, 0, 'b has not acknowledged its route yet');
  acked('b', 'route');
  assert.equal(calls.convergence.length, 1);
  assert.ok(calls.convergence[0]! >= 0);
  assert.deepEqual(calls.pushes.map(([type]) => type), ['endpoint', 'endpoint', 'route']);
  assert.ok(calls.pushes.every(([, s]) => s >= 0.004 && s < 1), 'push duration from the send time');
  t.close();
});

test('a response to a proxy outside the change (a new connection) does not hold it; a follow-up to one inside does', () => {
  const { t, calls, sent, acked } = setup();
  t.published(view('m1'), 'file');
  t.pushing(() => sent('a', 'cluster'));
  sent('c'); // a proxy that just connected: not part of the change
  sent('a', 'endpoint'); // a follow-up to a proxy of the change (gRPC asking for new clusters' endpoints)
  acked('a', 'cluster');
  assert.equal(calls.convergence.length, 0, 'the follow-up is still unanswered');
  acked('a', 'endpoint');
  assert.equal(calls.convergence.length, 1);
  t.close();
});

test('a gRPC client converges only once it holds the clusters and endpoints its new routes use', async () => {
  const { t, calls, sent } = setup();
  const ackOf = (nodeId: string, kind: ResourceKind, complete: boolean) =>
    t.events.acked!({ nodeId, streamId: nodeId, kind, version: 'v', sentAt: Date.now() - 5, at: Date.now(), complete });
  t.published(view('m1'), 'file');
  t.pushing(() => sent('a', 'route'));
  ackOf('a', 'route', false); // new routes ACKed; their new cluster not fetched yet
  assert.equal(calls.convergence.length, 0, 'routes ACKed, clusters missing');
  sent('a', 'cluster'); // the client asks for the new cluster: a follow-up
  await new Promise((r) => setTimeout(r, 20));
  ackOf('a', 'cluster', false);
  assert.equal(calls.convergence.length, 0, 'cluster ACKed, its endpoints missing');
  sent('a', 'endpoint');
  ackOf('a', 'endpoint', true);
  assert.equal(calls.convergence.length, 1, 'converged with the endpoints ACK');
  assert.ok(calls.convergence[0]! >= 0.015, `convergence ${calls.convergence[0]} s counts until the last fetch`);
  t.close();
});

test('a NACK ends a change without convergence and counts as a NACK of its type', () => {
  const { t, calls, sent, nacked } = setup();
  t.published(view('m1'), 'file');
  t.pushing(() => sent('a'));
  nacked('a');
  assert.deepEqual(calls.nacks, ['endpoint']);
  assert.equal(calls.pushes.length, 1);
  assert.equal(calls.convergence.length, 0);
  t.close();
});

test('a newer change supersedes one still waiting; only the newer one converges', () => {
  const { t, calls, sent, acked } = setup();
  t.published(view('m1'), 'file');
  t.pushing(() => sent('a'));
  t.published(view('m2'), 'file');
  t.pushing(() => sent('a'));
  acked('a');
  assert.equal(calls.convergence.length, 1);
  // A change published but superseded before its push never reports.
  t.published(view('m3'), 'file');
  t.published(view('m4'), 'file');
  t.pushing(() => sent('b'));
  acked('b');
  assert.equal(calls.convergence.length, 2);
  t.close();
});

test('a proxy that disconnects stops counting; the change converges on the others', () => {
  const connected = new Set(['a', 'b']);
  const { t, calls, sent, acked } = setup(connected);
  t.published(view('m1'), 'file');
  t.pushing(() => {
    sent('a');
    sent('b');
  });
  acked('a');
  connected.delete('b');
  t.events.closed!({ nodeId: 'b', streamId: 'b' });
  assert.equal(calls.convergence.length, 1);
  t.close();
});

test('a change that pushes nothing reports no convergence', () => {
  const { t, calls } = setup();
  t.published(view('m1'), 'file');
  t.pushing(() => undefined);
  assert.equal(calls.convergence.length, 0);
  t.close();
});

test('a view with a cause: the change starts at the source event, names its source, and shows the sharding it ran', async () => {
  const exporter = new InMemorySpanExporter();
  const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
  trace.setGlobalTracerProvider(provider);
  try {
    const { t, calls, sent, acked } = setup();
    const detectedAt = new Date(Date.now() - 300); // the runner got the file's event 300 ms ago
    const computeStartedAt = new Date(detectedAt.getTime() + 100);
    const cause: ChangeCause = { source: 'file', reason: 'topology file changed', detectedAt, computeStartedAt, computeSeconds: 0.0125, mode: 'incremental' };
    const v = { ...view('m1'), map: { version: 'm1', endpoints: [{}, {}] }, cause } as unknown as ServingView;
    t.published(v, 'kubernetes'); // the cause's source wins over the stage's guess
    t.pushing(() => sent('a'));
    acked('a');
    assert.equal(calls.convergence.length, 1);
    assert.ok(calls.convergence[0]! >= 0.3, `convergence counts from the source event: ${calls.convergence[0]}`);
    t.close();
    const spans = exporter.getFinishedSpans();
    const byName = (n: string) => spans.filter((s) => s.name === n);
    const [root] = byName('keyway.change');
    const [sharding] = byName('keyway.sharding');
    assert.ok(root && sharding && byName('keyway.xds.rebuild').length === 1 && byName('keyway.xds.push').length === 1, spans.map((s) => s.name).join());
    assert.equal(root.attributes['keyway.change.source'], 'file');
    assert.match(String(root.attributes['keyway.change.reason']), /^topology file changed; shard map m1 published$/);
    const ms = (hr: [number, number]) => hr[0] * 1000 + hr[1] / 1e6;
    assert.equal(Math.round(ms(root.startTime)), detectedAt.getTime());
    assert.equal(sharding.parentSpanContext?.spanId, root.spanContext().spanId);
    assert.equal(Math.round(ms(sharding.startTime)), computeStartedAt.getTime());
    assert.ok(Math.abs(ms(sharding.endTime) - ms(sharding.startTime) - 12.5) < 0.01, 'the computation\'s own duration');
    assert.deepEqual(
      [sharding.attributes['keyway.sharding.mode'], sharding.attributes['keyway.endpoints']],
      ['incremental', 2],
    );
  } finally {
    trace.disable();
    await provider.shutdown();
  }
});

test('a stream refused at a cap is counted by the setting of the cap, and is no part of a change', () => {
  const { t, calls } = setup();
  t.events.refused!({ limit: 'KEYWAY_XDS_MAX_STREAMS', peer: '127.0.0.1:5000' });
  assert.deepEqual(calls.refused, ['KEYWAY_XDS_MAX_STREAMS']);
  assert.equal(calls.pushes.length + calls.nacks.length + calls.convergence.length, 0);
  t.close();
});

test('a stream ended at a per-stream limit is counted by reason, not as a refusal', () => {
  const { t, calls } = setup();
  t.events.overLimit!({ reason: 'write_stall', streamId: '1', peer: '127.0.0.1:1' });
  assert.deepEqual(calls.overLimit, ['write_stall']);
  assert.deepEqual(calls.refused, []);
  t.close();
});
