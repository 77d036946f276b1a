// envoy.perTryTimeoutMs (docs/configuration.md): both Envoy route shapes carry it as the virtual
// host's per_try_timeout with the hedge, 0 carries neither, and a reload that changes only it
// reaches the output even though the translator keeps what it made last time (reuse.ts): the
// route table's routes and entries, the node clusters, and so on.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { EnvoySettings, RouteShape } from '../../../src/core/settings.js';
import type { ProxyClass, ResourceSet } from '../../../src/xds/resources.js';
import { resourceSetToJson, translate, type TranslatorInput } from '../../../src/xds/translator/index.js';
import { computedInput, endpoint, handInput, sixNodes, topologyOf } from './fixtures.js';

const ENVOY: ProxyClass = { flavor: 'envoy', zone: '', subzone: '' };
const SHAPES: readonly RouteShape[] = ['subset', 'table'];

interface Failover {
  readonly perTryTimeout: string | undefined;
  readonly hedge: unknown;
  readonly retryOn: unknown;
  readonly numRetries: unknown;
}

/** The virtual host's per-try timeout (as ProtoJSON, "5s"), hedge policy and the rest of the retry. */
function failover(set: ResourceSet): Failover {
  const json = resourceSetToJson(set) as { route: { virtualHosts: { retryPolicy?: Record<string, unknown>; hedgePolicy?: unknown }[] }[] };
  const vh = json.route[0]!.virtualHosts[0]!;
  return { perTryTimeout: vh.retryPolicy?.perTryTimeout as string | undefined, hedge: vh.hedgePolicy, retryOn: vh.retryPolicy?.retryOn, numRetries: vh.retryPolicy?.numRetries };
}

/** The same map (same object, as a reload that changes only settings computes) with other Envoy settings. */
function withEnvoy(input: TranslatorInput, envoy: Partial<EnvoySettings>): TranslatorInput {
  const { policy, endpoints } = input.topology;
  return { shardMap: input.shardMap, topology: topologyOf(endpoints, policy, { ...input.topology.xds.envoy, ...envoy }) };
}

const HEDGED = { hedgeOnPerTryTimeout: true };

for (const routeShape of SHAPES) {
  test(`${routeShape}: 5 s and the hedge by default, the value set, neither for 0; the retry is kept`, () => {
    const input = computedInput(sixNodes(), { shardCount: 16, replicas: 2, spread: 'zone' }, { routeShape });
    const retry = { retryOn: 'connect-failure,refused-stream,reset', numRetries: 2 };
    assert.deepEqual(failover(translate(input, ENVOY)), { perTryTimeout: '5s', hedge: HEDGED, ...retry });
    assert.deepEqual(failover(translate(withEnvoy(input, { perTryTimeoutMs: 12_500 }), ENVOY)), { perTryTimeout: '12.500s', hedge: HEDGED, ...retry });
    assert.deepEqual(failover(translate(withEnvoy(input, { perTryTimeoutMs: 3_600_000 }), ENVOY)), { perTryTimeout: '3600s', hedge: HEDGED, ...retry });
    assert.deepEqual(failover(translate(withEnvoy(input, { perTryTimeoutMs: 0 }), ENVOY)), { perTryTimeout: undefined, hedge: undefined, ...retry });
  });

  test(`${routeShape}: a reload that changes only envoy.perTryTimeoutMs reaches the output, and equals a translation from scratch`, () => {
    const input = handInput([endpoint('a', '10.0.0.1'), endpoint('b', '10.0.0.2'), endpoint('c', '10.0.0.3')], [['a', 'b'], ['b', 'c'], ['c', 'a'], ['a', 'c']], { routeShape });
    // Each translation starts from what the one before kept: the same map, the settings changed.
    const steps = [5_000, 9_000, 0, 9_000, 5_000];
    const seen = steps.map((ms) => failover(translate(withEnvoy(input, { perTryTimeoutMs: ms }), ENVOY)));
    assert.deepEqual(
      seen.map((f) => [f.perTryTimeout, f.hedge !== undefined]),
      [['5s', true], ['9s', true], [undefined, false], ['9s', true], ['5s', true]],
    );
    // Kept state from an other setting and a fresh translation (an unrelated fleet translated in
    // between forgets what was kept) give the same resources.
    translate(withEnvoy(input, { perTryTimeoutMs: 0 }), ENVOY);
    const kept = resourceSetToJson(translate(withEnvoy(input, { perTryTimeoutMs: 7_000 }), ENVOY));
    translate(handInput([endpoint('zz', '10.9.9.9')], [['zz']], { routeShape }), ENVOY);
    assert.deepEqual(kept, resourceSetToJson(translate(withEnvoy(input, { perTryTimeoutMs: 7_000 }), ENVOY)));
  });
}

test('only the route configuration depends on envoy.perTryTimeoutMs: clusters, endpoints and listener are the same', () => {
  for (const routeShape of SHAPES) {
    const input = computedInput(sixNodes(), { shardCount: 16, replicas: 2, spread: 'zone' }, { routeShape });
    const a = resourceSetToJson(translate(withEnvoy(input, { perTryTimeoutMs: 0 }), ENVOY)) as Record<string, unknown>;
    const b = resourceSetToJson(translate(withEnvoy(input, { perTryTimeoutMs: 8_000 }), ENVOY)) as Record<string, unknown>;
    for (const kind of ['cluster', 'endpoint', 'listener']) assert.deepEqual(a[kind], b[kind], `${routeShape} ${kind}`);
    assert.notDeepEqual(a.route, b.route);
  }
});
