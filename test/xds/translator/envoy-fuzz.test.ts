// Seeded fuzz: random topology files that keyway accepts (parseConfig, what `keyway check` runs),
// with a hot-shard decision from random load and a handoff step from an earlier fleet on top,
// translated for every flavor, and every translation checked by real Envoy (`--mode validate`,
// all cases in one bootstrap, envoy-batch.ts). A file keyway accepts and Envoy rejects is a NACK in
// production: the translator must emit a valid resource or validation must refuse the file.
// Skipped when no Envoy binary is installed (scripts/install-envoy.sh).
// Replay or widen: KEYWAY_FUZZ_SEED=<seed> KEYWAY_FUZZ_ITERATIONS=<n> node --import tsx --test <this file>.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseConfig, type KeywayConfig } from '../../../src/config/index.js';
import type { Endpoint } from '../../../src/core/endpoint.js';
import type { LoadSnapshot } from '../../../src/core/load.js';
import type { ShardMap } from '../../../src/core/shard-map.js';
import { applyHotShards, computeShardMap, decideHotShards } from '../../../src/sharding/index.js';
import { stepHandoff } from '../../../src/sharding/handoff.js';
import { WarmLedger } from '../../../src/sharding/warm-ledger.js';
import { checkConsistency, translate } from '../../../src/xds/translator/index.js';
import type { ProxyClass } from '../../../src/xds/resources.js';
import { fuzzBudget, Rng } from '../../support/seeded-random.js';
import { batchCase, findEnvoy, firstRejected, type BatchCase } from './envoy-batch.js';
import { grpcJsRejects } from './grpc-js-validate.js';
import { encodedBytes, sizeInputOf } from './grpc-size-input.js';
import { grpcSizeBounds } from '../../../src/xds/translator/grpc-size.js';
import { randomTopology, topologyYaml } from './fuzz-topology.js';

const envoy = findEnvoy();
const NOW = 1_700_000_000_000;

/** Random load on the plain map's shards, a few of them hot: the policy's snapshots. */
function randomLoad(rng: Rng, map: ShardMap, windowMs: number): LoadSnapshot[] {
  const S = map.policy.shardCount;
  const windows = 1 + rng.int(3);
  const hot = Array.from({ length: 1 + rng.int(3) }, () => rng.int(S));
  return Array.from({ length: windows }, (_, w) => ({
    windowStartMs: Math.floor(NOW / windowMs) * windowMs - (windows - w) * windowMs,
    windowMs,
    shards: Array.from({ length: Math.min(S, 64) }, (_, shard) => ({ shard, requests: hot.includes(shard) ? 5000 + rng.int(5000) : rng.int(100) })).sort((a, b) => a.shard - b.shard),
    nodes: [],
  }));
}

/**
 * The fleet a moment earlier: draining and not-ready nodes ready, some weights changed, so the
 * handoff planner keeps shards on their previous owners (a draining one among them).
 */
function earlierFleet(rng: Rng, endpoints: readonly Endpoint[]): Endpoint[] {
  return endpoints.map((e) => {
    const { draining: _draining, ...rest } = e;
    return { ...rest, ready: e.ready || e.draining === true || rng.chance(0.5), weight: rng.chance(0.2) ? 1 + rng.int(5) : e.weight };
  });
}

/** What the runner routes for a config: the plain map, the hot-shard decision, the handoff step. */
function routedMap(rng: Rng, config: KeywayConfig): { routed: ShardMap; handoff: ReturnType<typeof stepHandoff>['state'] } {
  const { topology, hotShards, handoff } = config;
  const plain = computeShardMap(topology.endpoints, topology.policy);
  const target = rng.chance(0.6) ? applyHotShards(plain, decideHotShards(plain, randomLoad(rng, plain, hotShards.windowMs), hotShards)) : plain;
  const warmers = new Set(topology.endpoints.filter(() => rng.chance(0.7)).map((e) => e.id));
  const warm = new WarmLedger();
  const before = stepHandoff({ previous: undefined, target: computeShardMap(earlierFleet(rng, topology.endpoints), topology.policy), warm, warmers, agentsExpected: true, settings: handoff, now: NOW - 1000 });
  const step = stepHandoff({ previous: rng.chance(0.7) ? before : undefined, target, warm, warmers, agentsExpected: rng.chance(0.5), settings: handoff, now: NOW });
  return { routed: step.routed, handoff: step.state };
}

interface FuzzCase {
  readonly index: number;
  readonly yaml: string;
  readonly flavor: string;
  readonly batch: BatchCase;
}

test('real Envoy accepts every translation of random topologies keyway accepts', { skip: envoy === undefined ? 'no envoy binary (scripts/install-envoy.sh)' : false, timeout: 300_000 }, () => {
  const { iterations, seed } = fuzzBudget(150);
  const rng = new Rng(seed);
  const cases: FuzzCase[] = [];
  let refused = 0;
  let port = 20000;
  for (let i = 0; i < iterations; i++) {
    const yaml = topologyYaml(randomTopology(rng));
    let config: KeywayConfig;
    try {
      config = parseConfig(yaml, `fuzz-${i}.yaml`);
    } catch {
      refused++; // keyway refuses it: no proxy ever sees it
      continue;
    }
    const { routed, handoff } = routedMap(rng, config);
    const input = { shardMap: routed, topology: config.topology, handoff };
    const localities = config.topology.endpoints.map((e) => e.locality);
    const near = localities.length > 0 && rng.chance(0.7) ? rng.pick(localities) : { zone: '', subzone: '' };
    const classes: ProxyClass[] = [
      { flavor: 'envoy', zone: '', subzone: '' },
      { flavor: 'grpc', zone: near.zone, subzone: near.subzone },
      { flavor: 'grpc', zone: '', subzone: '', picker: true },
    ];
    for (const proxy of classes) {
      const set = translate(input, proxy);
      const flavor = `${proxy.flavor}${proxy.picker ? '-picker' : ''}`;
      assert.deepEqual(checkConsistency(set), [], `case ${i} (${flavor}) is inconsistent:\n${yaml}`);
      if (proxy.flavor === 'grpc') {
        const rejected = grpcJsRejects(set);
        assert.equal(rejected, undefined, `grpc-js-xds rejects case ${i} (${flavor}, seed ${seed}): ${rejected}\n--- topology ---\n${yaml}`);
        if (!proxy.picker) {
          // The message-size warning's bounds (grpc-size.ts) must never pass the real encoding.
          const bound = grpcSizeBounds(sizeInputOf(set));
          const real = encodedBytes(set);
          for (const k of ['route', 'cluster', 'endpoint'] as const) assert.ok(bound[k] <= real[k], `case ${i}: ${k} bound ${bound[k]} > ${real[k]}\n${yaml}`);
        }
      }
      cases.push({ index: i, yaml, flavor, batch: batchCase(set, `c${cases.length}.`, port++) });
    }
    // Agents get assignments only; they must translate without throwing.
    for (const e of config.topology.endpoints) translate(input, { flavor: 'agent', zone: '', subzone: '', node: e.id });
  }
  assert.ok(refused < iterations / 10, `keyway refused ${refused} of ${iterations} generated files: the generator drifted from the schema`);
  const bad = firstRejected(envoy!, cases.map((c) => c.batch));
  if (bad) {
    const c = cases[bad.index]!;
    assert.fail(`Envoy rejects the ${c.flavor} resources of case ${c.index} (seed ${seed}):\n${bad.output}\n--- topology ---\n${c.yaml}`);
  }
});
