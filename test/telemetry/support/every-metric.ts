import type { KeywayMetrics } from '../../../src/telemetry/index.js';

/** Feeds every recorder and observer of `m` once, so every keyway metric has a sample. */
export function feedEveryMetric(m: KeywayMetrics): void {
  const row = { region: 'us-east', zone: 'us-east-1a', subzone: 'nvl-1', ready: true };
  m.recordPush('endpoint', 0.004);
  m.recordNack('route');
  m.recordConvergence(0.3);
  m.recordShardMapCompute(0.002);
  m.recordShardMapPublished({ version: 'v1', shardCount: 16, movedShards: 3 });
  m.recordSourceError('file');
  m.observeProxies(() => [{ flavor: 'envoy', types: { cluster: { status: 'SYNCED' } } }]);
  m.observeProxyClasses(() => [{ flavor: 'envoy' }, { flavor: 'agent' }]);
  m.observeOwnership(() => [{ endpoint: 'a', ...row, owned: 5, primary: 2, weight: 3 }]);
  m.observeSources(() => [{ kind: 'file', stale: false, lastUpdate: new Date() }]);
  m.recordHandoff({ started: 2, completed: [{ outcome: 'warm', seconds: 0.4 }] });
  m.observeHandoff(() => ({ inTransition: 1, draining: 1 }));
  m.observeXdsTlsCertificate(() => ({ notAfterMs: 1_900_000_000_000 }));
  m.observeHealth(() => ({ sources: [] }));
  m.observeLoad(() => ({ windowStartMs: 1_000_000, windowMs: 10_000, shards: [{ shard: 7, requests: 12.5 }], nodes: [{ nodeId: 'a', requests: 40 }] }));
  m.observeLoadSnapshotReads(() => 2);
  m.recordHotShardMoves(3, 1);
  m.observeHotShards(() => ({ spread: 2, boundedLoad: 1, maxLoadRatio: 1.08, plainMaxLoadRatio: 1.7 }));
}
