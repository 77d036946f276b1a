// Proxyless gRPC clients take xDS messages of at most 4 MiB: past it their ADS stream ends
// ("Received message larger than max (5481133 vs 4194304)" from grpc-js-xds at S = 65536, R = 2,
// 100 nodes, a topology within the work budget) and they never get routes. The translator warns
// (keyway check prints it, serve logs it) from a lower bound of each response's size.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Endpoint } from '../../../src/core/endpoint.js';
import type { ProxyClass } from '../../../src/xds/resources.js';
import { computeShardMap } from '../../../src/sharding/index.js';
import { translateWithWarnings } from '../../../src/xds/translator/index.js';
import { GRPC_MAX_MESSAGE_BYTES, grpcSizeBounds } from '../../../src/xds/translator/grpc-size.js';
import { endpoint, locality, topologyOf } from './fixtures.js';
import { encodedBytes, sizeInputOf } from './grpc-size-input.js';
import { grpcJsRejects } from './grpc-js-validate.js';

const GRPC: ProxyClass = { flavor: 'grpc', zone: '', subzone: '' };
const PICKER: ProxyClass = { ...GRPC, picker: true };

function nodes(n: number, id = (i: number) => `cache-node-${i}`): Endpoint[] {
  return Array.from({ length: n }, (_, i) => endpoint(id(i), i % 3 === 0 ? `fd00::${i.toString(16)}` : `10.0.${i >> 8}.${i & 255}`, { locality: locality(`z${i % 3}`, `f${i % 5}`) }));
}

function warningsFor(shards: number, replicas: number, eps: Endpoint[], proxy: ProxyClass): string[] {
  const policy = { shardCount: shards, replicas, spread: 'none' as const };
  return [...translateWithWarnings({ shardMap: computeShardMap(eps, policy), topology: topologyOf(eps, policy) }, proxy).warnings];
}

test('a gRPC route configuration past 4 MiB is a warning naming its size, the limit and the remedy', () => {
  const warnings = warningsFor(65536, 2, nodes(100), GRPC);
  const hit = warnings.find((w) => w.includes('route configuration'));
  assert.ok(hit, warnings.join('\n'));
  const bytes = Number(/at least (\d+) bytes/.exec(hit)![1]);
  assert.ok(bytes > GRPC_MAX_MESSAGE_BYTES && bytes <= 5481133, hit);
  assert.match(hit, /4194304-byte message limit.*shard picker.*lower shards or replicas/);
});

test('the endpoint assignments of many owner tuples past 4 MiB are a warning too', () => {
  const warnings = warningsFor(16384, 4, nodes(500, (i) => `cache-statefulset-${i}`), GRPC);
  assert.ok(warnings.some((w) => w.includes('gRPC endpoint assignments take at least')), warnings.join('\n'));
});

test('S = 16384, R = 3 over 1000 nodes with real locality names (docs/xds.md) passes 4 MiB of assignments: a warning, and a route configuration with no route instead', () => {
  const eps = Array.from({ length: 1000 }, (_, i) =>
    endpoint(`gpu-node-${i}`, `10.${i >> 8}.${i & 255}.1`, { locality: locality(`us-east-1${'abc'[i % 3]}`, `nvl-${i % 40}`, 'us-east-1') }),
  );
  const policy = { shardCount: 16384, replicas: 3, spread: 'none' as const };
  const { resources, warnings } = translateWithWarnings({ shardMap: computeShardMap(eps, policy), topology: topologyOf(eps, policy) }, GRPC);
  assert.ok(warnings.some((w) => w.includes('gRPC endpoint assignments take at least')), `no warning:\n${warnings.join('\n')}`);
  // What the client could not receive is neither sent nor held: its listener, and no route to take.
  assert.deepEqual([resources.cluster?.length, resources.endpoint?.length, resources.listener?.length, resources.route?.length], [0, 0, 1, 1]);
  const routes = resources.route![0]!.message as unknown as { virtualHosts: { routes: unknown[] }[] };
  assert.deepEqual(routes.virtualHosts.map((v) => v.routes.length), [0]);
  assert.equal(grpcJsRejects(resources), undefined, 'grpc-js-xds takes the set');
  const real = encodedBytes(resources);
  assert.ok(real.route < 1024, `${JSON.stringify(real)}`);
});

test('no size warning where every response fits, nor for picker clients (one compact cluster)', () => {
  assert.deepEqual(warningsFor(1024, 3, nodes(50), GRPC).filter((w) => w.includes('message limit')), []);
  assert.deepEqual(warningsFor(65536, 2, nodes(100), PICKER).filter((w) => w.includes('message limit')), []);
});

test('the size bounds never exceed the encoded resources (so a warning is never a false alarm)', () => {
  const long = nodes(12, (i) => `${'n'.repeat(200)}-${i}`);
  for (const [shards, replicas, eps] of [[8, 1, nodes(1)], [1000, 3, nodes(40)], [300, 2, long], [1, 5, nodes(7)]] as const) {
    for (const missingHeader of ['any', 'reject'] as const) {
      const policy = { shardCount: shards, replicas, spread: 'none' as const };
      const set = translateWithWarnings({ shardMap: computeShardMap(eps, policy), topology: topologyOf(eps, policy, { missingHeader }) }, GRPC).resources;
      const bound = grpcSizeBounds(sizeInputOf(set));
      const real = encodedBytes(set);
      for (const kind of ['route', 'cluster', 'endpoint'] as const) {
        assert.ok(bound[kind] <= real[kind], `${kind}: bound ${bound[kind]} > encoded ${real[kind]} (S=${shards}, R=${replicas})`);
        if (real[kind] > 10_000) assert.ok(bound[kind] >= 0.7 * real[kind], `${kind}: bound ${bound[kind]} is loose against ${real[kind]}`);
      }
    }
  }
});
