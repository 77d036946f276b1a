/**
 * fast-check generators for sharding properties: small topologies with few zones and fabrics so the
 * spread policy's conflicts and fallbacks are exercised, and endpoint changes for the incremental path.
 */
import fc from 'fast-check';
import type { Endpoint } from '../../src/core/endpoint.js';
import type { ShardingPolicy } from '../../src/core/policy.js';

/** Fixed by default so the statistical tests are reproducible; KEYWAY_PROPERTY_SEED picks another. */
export const PROPERTY_SEED = Number(process.env.KEYWAY_PROPERTY_SEED ?? 20260601);

export const idArb = fc.oneof(
  fc.nat({ max: 40 }).map((i) => `gpu-${i}`),
  fc.stringMatching(/^[a-z0-9][a-z0-9.-]{0,11}$/),
);

// Few zones and fabrics, so that "fewer fabrics than R" and same-fabric conflicts are common.
export const localityArb = fc.record({
  region: fc.oneof({ weight: 9, arbitrary: fc.constant('us-east') }, { weight: 1, arbitrary: fc.constant('eu-west') }),
  zone: fc.constantFrom('a', 'b'),
  subzone: fc.constantFrom('nvl-1', 'nvl-2', 'nvl-3'),
});

export const weightArb = fc.oneof(
  { weight: 6, arbitrary: fc.integer({ min: 1, max: 200 }) },
  { weight: 2, arbitrary: fc.double({ min: 0.01, max: 500, noNaN: true, noDefaultInfinity: true }) },
  { weight: 1, arbitrary: fc.constant(0) },
);

export const readyArb = fc.oneof({ weight: 6, arbitrary: fc.constant(true) }, { weight: 1, arbitrary: fc.constant(false) });

/** Nearly everything in one zone and two fabrics: spread passes that cannot fill are the norm. */
export const crowdedLocalityArb = fc.record({
  region: fc.constant('us-east'),
  zone: fc.oneof({ weight: 5, arbitrary: fc.constant('a') }, { weight: 1, arbitrary: fc.constant('b') }),
  subzone: fc.oneof(
    { weight: 4, arbitrary: fc.constant('nvl-1') },
    { weight: 2, arbitrary: fc.constant('nvl-2') },
    { weight: 1, arbitrary: fc.constant('nvl-3') },
  ),
});

export function endpointArb(id: fc.Arbitrary<string> = idArb, locality = localityArb): fc.Arbitrary<Endpoint> {
  return fc.record({
    id,
    address: fc.ipV4(),
    port: fc.integer({ min: 1, max: 65535 }),
    locality,
    weight: weightArb,
    ready: readyArb,
  });
}

/** An eligible endpoint (ready, weight > 0). */
export function eligibleEndpointArb(id: fc.Arbitrary<string> = idArb): fc.Arbitrary<Endpoint> {
  return endpointArb(id).map((e) => ({ ...e, ready: true, weight: e.weight > 0 ? e.weight : 1 }));
}

export const endpointsArb = (maxLength = 10, locality = localityArb, minLength = 0): fc.Arbitrary<Endpoint[]> =>
  fc.uniqueArray(endpointArb(idArb, locality), { selector: (e) => e.id, minLength, maxLength, size: 'max' });

export const policyArb = (maxShards = 48, maxReplicas = 4): fc.Arbitrary<ShardingPolicy> =>
  fc.record({
    shardCount: fc.integer({ min: 1, max: maxShards }),
    replicas: fc.integer({ min: 1, max: maxReplicas }),
    spread: fc.constantFrom('none' as const, 'zone' as const, 'subzone' as const),
  });
