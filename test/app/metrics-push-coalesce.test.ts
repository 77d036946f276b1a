/**
 * Views published in one turn of the event loop go out as one push (the xDS stage pushes the
 * latest): the change that is pushed carries the earlier ones, so its convergence counts from the
 * earliest source event, and its moved shards are those between the map the proxies had and the
 * one they get, not only the last publish's diff.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import { trace } from '@opentelemetry/api';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import type { ChangeCause, ServingView } from '../../src/core/serving.js';
import type { Endpoint } from '../../src/core/endpoint.js';
import type { ShardMap } from '../../src/core/shard-map.js';
import { computeShardMap, diffShardMaps } from '../../src/sharding/index.js';
import type { KeywayMetrics } from '../../src/telemetry/index.js';
import { pushTelemetry } from '../../src/app/push-telemetry.js';

const ep = (id: string, weight = 1): Endpoint => ({ id, address: '10.0.0.1', port: 1, locality: { region: 'r', zone: 'z', subzone: 'f' }, weight, ready: true });
const policy = { shardCount: 256, replicas: 1, spread: 'none' } as const;

let seq = 0;
function view(map: ShardMap, previous: ShardMap | undefined, detectedAt: Date): ServingView {
  const cause: ChangeCause = { source: 'file', reason: 'topology file changed', detectedAt, computeStartedAt: detectedAt, computeSeconds: 0, mode: 'incremental' };
  return { sequence: ++seq, map, updatedAt: new Date(), cause, ...(previous ? { diff: diffShardMaps(previous, map) } : {}) } as unknown as ServingView;
}

test('changes coalesced into one push: convergence from the earliest event, moved shards from the map pushed before', async () => {
  const exporter = new InMemorySpanExporter();
  const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
  trace.setGlobalTracerProvider(provider);
  try {
    const convergence: number[] = [];
    const metrics = { recordPush: () => {}, recordConvergence: (s: number) => void convergence.push(s) } as unknown as KeywayMetrics;
    const t = pushTelemetry({ metrics, logger: pino({ level: 'silent' }), connected: () => true });
    const send = () => t.events.sent!({ nodeId: 'a', streamId: 's', kind: 'endpoint', version: 'v', nonce: '1', resources: 1, at: Date.now() });
    const ack = () => t.events.acked!({ nodeId: 'a', streamId: 's', kind: 'endpoint', version: 'v', sentAt: Date.now(), at: Date.now() });

    const m0 = computeShardMap([ep('a'), ep('b')], policy);
    const m1 = computeShardMap([ep('a'), ep('b'), ep('c')], policy);
    const m2 = computeShardMap([ep('a'), ep('b'), ep('c'), ep('d')], policy);
    // m0 is pushed and converges.
    t.published(view(m0, undefined, new Date()), 'file');
    t.pushing(send);
    ack();
    assert.equal(convergence.length, 1);

    // m1 (c joins) and m2 (d joins) are published in one turn: one push of m2 carries both.
    const first = new Date(Date.now() - 400);
    t.published(view(m1, m0, first), 'file');
    t.published(view(m2, m1, new Date()), 'file');
    t.pushing(send);
    ack();
    assert.equal(convergence.length, 2);
    assert.ok(convergence[1]! >= 0.4, `the proxies got c's change with this push: convergence counts from its event, got ${convergence[1]} s`);

    const roots = exporter.getFinishedSpans().filter((s) => s.name === 'keyway.change' && s.attributes['keyway.change.outcome'] === 'converged');
    const last = roots.at(-1)!;
    const moved = diffShardMaps(m0, m2).moves.length;
    assert.notEqual(moved, diffShardMaps(m1, m2).moves.length);
    assert.equal(last.attributes['keyway.shardmap.moved_shards'], moved, 'the shards that moved between what the proxies had and what they got');
    assert.match(String(last.attributes['keyway.change.reason']), new RegExp(`\\(${moved} shards moved\\)`));
    assert.equal(last.attributes['keyway.change.coalesced'], 1);
    t.close();
  } finally {
    trace.disable();
    await provider.shutdown();
  }
});
