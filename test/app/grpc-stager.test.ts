/**
 * The make-before-break step per gRPC class (src/app/grpc-stager.ts): a phase ends when the class's
 * clients are in sync, or when its bounded wait runs out; a new target starts a new change; 0 turns it off.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { pino } from 'pino';
import { ClusterSchema, RouteConfigurationSchema } from '../../src/xds/proto.js';
import type { ResourceSet, TranslatedResource } from '../../src/xds/resources.js';
import { grpcCluster } from '../../src/xds/translator/grpc-clusters.js';
import { grpcRouteConfiguration } from '../../src/xds/translator/grpc-routes.js';
import { DEFAULT_GRPC_STAGE_TIMEOUT_MS, GRPC_STAGE_TIMEOUT_ENV, GrpcStager, grpcStageTimeoutFromEnv } from '../../src/app/grpc-stager.js';
import { eventually } from '../support/eventually.js';

const logger = pino({ level: 'silent' });

function grpcSet(owners: readonly string[]): ResourceSet {
  const r = (schema: TranslatedResource['schema'], name: string, message: unknown): TranslatedResource => ({ name, schema, message }) as TranslatedResource;
  return {
    cluster: [...new Set(owners)].sort().map((n) => r(ClusterSchema, n, grpcCluster(n))),
    endpoint: [],
    listener: [],
    route: [r(RouteConfigurationSchema, 'routes', grpcRouteConfiguration('routes', 'svc', owners.map((cluster, shard) => ({ shard, cluster })), undefined))],
  };
}
const clusters = (set: ResourceSet): string => set.cluster.map((c) => c.name).join(' ');

/** A stager driven like the xDS stage drives it: `rebuild` calls build for class K with the current target. */
function harness(timeoutMs: number, lingerMs = 0) {
  const served: ResourceSet[] = [];
  let target = grpcSet(['a']);
  let synced = false;
  const stager: GrpcStager = new GrpcStager({
    timeoutMs,
    lingerMs,
    logger,
    synced: () => synced,
    rebuild: () => {
      served.push(stager.build('K', target));
      stager.rebuilt(new Set(['K']));
    },
  });
  return {
    stager,
    served,
    change(next: ResourceSet) {
      target = next;
      served.push(stager.build('K', target));
      stager.rebuilt(new Set(['K']));
    },
    sync(v: boolean) {
      synced = v;
      stager.check();
    },
  };
}

test('phases wait for the clients: add, then switch, then done', async (t) => {
  const h = harness(60_000);
  t.after(() => h.stager.close());
  h.change(grpcSet(['a'])); // first build of the class: served as is
  h.change(grpcSet(['b']));
  assert.deepEqual(h.stager.inProgress(), [{ classKey: 'K', phase: 'add' }]);
  await sleep(20);
  assert.equal(h.served.length, 2, 'nothing moves while the clients are not in sync');
  h.sync(true);
  await eventually('done', () => (h.stager.inProgress().length === 0 ? true : undefined));
  assert.deepEqual(h.served.map(clusters), ['a', 'a b', 'a b', 'b']);
});

test('leaving clusters stay for the linger once the clients are in sync with the routes that dropped them', async (t) => {
  const h = harness(60_000, 300);
  t.after(() => h.stager.close());
  h.change(grpcSet(['a']));
  h.sync(true);
  h.change(grpcSet(['b']));
  await eventually('switch', () => (h.stager.inProgress()[0]?.phase === 'switch' ? true : undefined));
  const switched = Date.now();
  await sleep(100);
  assert.deepEqual(h.served.map(clusters), ['a', 'a b', 'a b'], 'in sync, but a still lingers');
  await eventually('done', () => (h.stager.inProgress().length === 0 ? true : undefined), { timeoutMs: 3000 });
  assert.ok(Date.now() - switched >= 250, `a left ${Date.now() - switched} ms after the switch, not after the 300 ms linger`);
  assert.deepEqual(h.served.map(clusters), ['a', 'a b', 'a b', 'b']);
});

test('a phase nobody ACKs ends at its bound', async (t) => {
  const h = harness(50);
  t.after(() => h.stager.close());
  h.change(grpcSet(['a']));
  const started = Date.now();
  h.change(grpcSet(['b']));
  await eventually('done', () => (h.stager.inProgress().length === 0 ? true : undefined), { timeoutMs: 2000 });
  assert.ok(Date.now() - started >= 100, 'two phases of 50 ms each');
  assert.deepEqual(h.served.map(clusters), ['a', 'a b', 'a b', 'b']);
});

test('timeout 0 serves the target at once', (t) => {
  const h = harness(0);
  t.after(() => h.stager.close());
  h.change(grpcSet(['a']));
  h.change(grpcSet(['b']));
  assert.deepEqual(h.stager.inProgress(), []);
  assert.deepEqual(h.served.map(clusters), ['a', 'b']);
});

test('the bound from the environment: default, 0 (off), and a malformed value named', () => {
  assert.equal(grpcStageTimeoutFromEnv({}), DEFAULT_GRPC_STAGE_TIMEOUT_MS);
  assert.equal(grpcStageTimeoutFromEnv({ [GRPC_STAGE_TIMEOUT_ENV]: '0' }), 0);
  assert.equal(grpcStageTimeoutFromEnv({ [GRPC_STAGE_TIMEOUT_ENV]: '250' }), 250);
  assert.throws(() => grpcStageTimeoutFromEnv({ [GRPC_STAGE_TIMEOUT_ENV]: '-1' }), /KEYWAY_XDS_GRPC_STAGE_TIMEOUT_MS/);
  assert.throws(() => grpcStageTimeoutFromEnv({ [GRPC_STAGE_TIMEOUT_ENV]: '5s' }), /KEYWAY_XDS_GRPC_STAGE_TIMEOUT_MS/);
  // Past setTimeout's range the stager's timer would fire every millisecond.
  assert.equal(grpcStageTimeoutFromEnv({ [GRPC_STAGE_TIMEOUT_ENV]: '2147483647' }), 2147483647);
  assert.throws(() => grpcStageTimeoutFromEnv({ [GRPC_STAGE_TIMEOUT_ENV]: '2147483648' }), /KEYWAY_XDS_GRPC_STAGE_TIMEOUT_MS must be at most 2147483647/);
});
