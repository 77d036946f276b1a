/**
 * `/readyz`'s `snapshot_rejected` reason (docs/security.md "Honest state"): it names at most a few
 * proxy classes and counts the rest, quotes a bounded part of each class and refusal, and leaves
 * `/v1/shardmap` alone (its map is the latest input's; which classes are refused depends on the
 * proxies connected to this replica, and replicas must answer pollers alike).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildAdminApp } from '../../src/admin/index.js';
import { ServingState } from '../../src/app/serving-state.js';
import { NACK_EXAMPLES, QUOTED_CHARS, type RejectedSnapshot } from '../../src/core/health.js';
import { DEFAULT_XDS_SETTINGS } from '../../src/core/settings.js';
import { computeShardMap } from '../../src/sharding/index.js';

const POLICY = { shardCount: 16, replicas: 1, spread: 'none' } as const;

function servingState(): ServingState {
  const state = new ServingState();
  const endpoints = ['a', 'b'].map((id, i) => ({ id, address: `10.0.0.${i + 1}`, port: 7000, locality: { region: 'r', zone: 'z', subzone: 'f' }, weight: 1, ready: true }));
  const map = computeShardMap(endpoints, POLICY);
  state.publish({ map, topology: { policy: POLICY, xds: DEFAULT_XDS_SETTINGS, endpoints: map.endpoints } });
  state.setSourceStatus(() => [{ kind: 'file', healthy: true, stale: false }]);
  return state;
}

test('snapshot_rejected names at most 3 classes with bounded quotes, counts the rest, and clears when the reader reports none', async (t) => {
  const state = servingState();
  let rejected: RejectedSnapshot[] = [
    { classKey: `agent||${'n'.repeat(5000)}`, message: 'x'.repeat(100_000), kept: 'v1' },
    { classKey: 'envoy||', message: 'endpoints c: address 10.0.0.1:7000 listed twice', kept: 'v2' },
    { classKey: 'grpc|z|f', message: 'route configuration r: virtual host v routes to cluster c9, which is missing' },
    { classKey: 'grpc|z|g', message: 'm' },
    { classKey: 'grpc|z|h', message: 'm' },
  ];
  const stop = state.observeSnapshotRejections(() => rejected);
  const app = await buildAdminApp(state);
  t.after(() => app.close());

  const res = await app.inject('/readyz');
  assert.equal(res.statusCode, 200, 'degraded still serves');
  const body = res.json();
  assert.equal(body.status, 'degraded');
  assert.deepEqual(body.reasons.map((r: { code: string }) => r.code), ['snapshot_rejected']);
  const message: string = body.reasons[0].message;
  assert.equal(
    message,
    `keyway refused the latest snapshot of 5 proxy classes, whose proxies keep the one before: ` +
      `${`agent||${'n'.repeat(5000)}`.slice(0, QUOTED_CHARS)}… (still serves v1): ${'x'.repeat(QUOTED_CHARS)}…; ` +
      'envoy|| (still serves v2): endpoints c: address 10.0.0.1:7000 listed twice; ' +
      'grpc|z|f (nothing served yet): route configuration r: virtual host v routes to cluster c9, which is missing; ' +
      `and ${5 - NACK_EXAMPLES} more`,
  );
  assert.ok(res.body.length < 2000, `bounded: ${res.body.length} bytes`);
  // The map in force is the latest input's: /v1/shardmap is not stale and has no pipeline error.
  assert.equal(body.stale, false);
  assert.equal(body.pipelineError, undefined);
  const map = (await app.inject('/v1/shardmap')).json();
  assert.equal(map.stale, false);
  assert.equal(map.pipelineError, undefined);

  rejected = [];
  assert.equal((await app.inject('/readyz')).json().status, 'ready');
  rejected = [{ classKey: 'envoy||', message: 'm', kept: 'v' }];
  assert.equal((await app.inject('/readyz')).json().status, 'degraded');
  stop();
  assert.equal((await app.inject('/readyz')).json().status, 'ready', 'a closed xDS stage reports nothing');
});
