// Weighted shares fit the weights (docs/hashing.md "Properties, and why they hold"): primary ownership with spread none is, for
// an ideal hash, a multinomial draw with p_i = w_i / W (the min of exponentials E_i / w_i), so a
// chi-square goodness-of-fit test applies; and every share is within 10% once each endpoint
// expects at least 1000 shards.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import type { Endpoint } from '../../src/core/endpoint.js';
import { computeShardMap, endpointShares } from '../../src/sharding/index.js';
import { PROPERTY_SEED } from './arbitraries.js';
import { chiSquare, chiSquareUpperTail } from './statistics.js';

test('the chi-square tail matches known table values', () => {
  const close = (a: number, b: number, tol: number) => assert.ok(Math.abs(a - b) < tol, `${a} vs ${b}`);
  close(chiSquareUpperTail(3.841459, 1), 0.05, 1e-6);
  close(chiSquareUpperTail(29.5883, 10), 0.001, 1e-6);
  close(chiSquareUpperTail(124.342, 100), 0.05, 1e-5);
  close(chiSquareUpperTail(7, 2), Math.exp(-3.5), 1e-12);
  close(chiSquareUpperTail(0.0158, 1), 0.9, 1e-3);
});

/** Id styles seen in practice: StatefulSet pods (sequential, nearly equal FNV keys), FQDNs, random. */
const idStyleArb = fc.constantFrom(
  (i: number) => `cache-${i}`,
  (i: number) => `gpu-node-${i}.cache.inference.svc.cluster.local`,
  (i: number) => `10.1.${i >> 8}.${i & 255}:7000`,
);
const topologyArb = (minN: number, maxN: number, maxWeight: number) =>
  fc
    .tuple(
      fc.integer({ min: minN, max: maxN }),
      fc.oneof(idStyleArb, fc.string({ unit: fc.constantFrom(...'abcdefghijklmnopqrstuvwxyz0123456789'), minLength: 4, maxLength: 12 }).map((p) => (i: number) => `${p}-${i}`)),
      fc.array(fc.oneof(fc.integer({ min: 1, max: maxWeight }), fc.double({ min: 1, max: maxWeight, noNaN: true })), {
        minLength: maxN,
        maxLength: maxN,
      }),
    )
    .map(([n, name, weights]): Endpoint[] =>
      Array.from({ length: n }, (_, i) => ({
        id: name(i),
        address: '10.0.0.1',
        port: 7000,
        locality: { region: 'r', zone: `z${i % 3}`, subzone: `f${i % 5}` },
        weight: weights[i]!,
        ready: true,
      })),
    );

function primaryCounts(endpoints: Endpoint[], shardCount: number): { observed: number[]; expected: number[] } {
  const map = computeShardMap(endpoints, { shardCount, replicas: 1, spread: 'none' });
  const shares = endpointShares(map);
  const total = endpoints.reduce((s, e) => s + e.weight, 0);
  return {
    observed: endpoints.map((e) => shares.get(e.id)!.primary),
    expected: endpoints.map((e) => (shardCount * e.weight) / total),
  };
}

test('primary shares fit the weights: chi-square p > 0.001 per topology (Bonferroni) and pooled', () => {
  const topologies = 40;
  const pValues: number[] = [];
  let pooledChi2 = 0;
  let pooledDf = 0;
  fc.assert(
    fc.property(topologyArb(2, 40, 100), (endpoints) => {
      const W = endpoints.reduce((s, e) => s + e.weight, 0);
      const wMin = Math.min(...endpoints.map((e) => e.weight));
      // Enough shards that every expected count is >= 10, as the chi-square approximation needs.
      const S = Math.min(65536, Math.max(1024, Math.ceil((10 * W) / wMin)));
      const { observed, expected } = primaryCounts(endpoints, S);
      const chi2 = chiSquare(observed, expected);
      const p = chiSquareUpperTail(chi2, endpoints.length - 1);
      pValues.push(p);
      pooledChi2 += chi2;
      pooledDf += endpoints.length - 1;
      assert.ok(p > 0.001 / topologies, `p = ${p} for ${endpoints.length} endpoints over ${S} shards`);
    }),
    { numRuns: topologies, seed: PROPERTY_SEED },
  );
  const pooled = chiSquareUpperTail(pooledChi2, pooledDf);
  assert.ok(pooled > 0.001, `pooled p = ${pooled} (chi2 ${pooledChi2}, df ${pooledDf})`);
  // Under the null hypothesis p-values are uniform: a hash that fits too well (or too badly) shows here.
  const mean = pValues.reduce((s, p) => s + p, 0) / pValues.length;
  assert.ok(mean > 0.3 && mean < 0.7, `mean p-value ${mean}`);
});

test('every share is within 10% of its weight when each endpoint expects >= 1000 shards', () => {
  fc.assert(
    fc.property(topologyArb(2, 16, 10), (endpoints) => {
      const W = endpoints.reduce((s, e) => s + e.weight, 0);
      const wMin = Math.min(...endpoints.map((e) => e.weight));
      const S = Math.ceil((1000 * W) / wMin);
      const { observed, expected } = primaryCounts(endpoints, S);
      observed.forEach((o, i) => {
        assert.ok(expected[i]! >= 1000);
        const dev = Math.abs(o - expected[i]!) / expected[i]!;
        assert.ok(dev <= 0.1, `${endpoints[i]!.id}: ${o} shards, expected ${expected[i]!.toFixed(1)} (S=${S})`);
      });
    }),
    { numRuns: 25, seed: PROPERTY_SEED },
  );
});
