/**
 * Endpoint weights stay where the rendezvous score (hash contract 2) cannot overflow or lose its
 * precision: 0, or from MIN_POSITIVE_WEIGHT to MAX_WEIGHT (docs/configuration.md, `weight`).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseConfig } from '../../src/config/index.js';
import { MAX_WEIGHT, MIN_POSITIVE_WEIGHT } from '../../src/config/fields.js';
import { KeywayErrors } from '../../src/core/errors.js';
import { computeShardMap } from '../../src/sharding/index.js';
import { scoreFromU } from '../../src/sharding/rendezvous-score.js';

const IDS = ['gpu-a1', 'gpu-a2', 'gpu-a3', 'gpu-a4', 'gpu-b1', 'gpu-b2', 'gpu-b3', 'gpu-b4'];

/** A topology with IDS, endpoint i weighing weights[i] (written as JavaScript prints the number). */
function topology(weights: readonly number[]): string {
  const lines = ['shards: 1024', 'replicas: 1', 'endpoints:'];
  IDS.forEach((id, i) => lines.push(`  - id: ${id}`, `    address: 10.0.0.${i + 1}`, '    port: 7000', `    weight: ${weights[i]}`));
  return `${lines.join('\n')}\n`;
}

function problemsOf(text: string): KeywayErrors['errors'] {
  try {
    parseConfig(text, 'topo.yaml');
  } catch (err) {
    assert.ok(err instanceof KeywayErrors, String(err));
    return err.errors;
  }
  assert.fail('expected the file to be refused');
}

function primaries(text: string): string[] {
  const { topology: t } = parseConfig(text, 'topo.yaml');
  return computeShardMap(t.endpoints, t.policy).owners.map((o) => o[0]!);
}

test('the bounds keep every score a finite normal double, as the contract draws u', () => {
  // u = ((z >>> 12) + 0.5) / 2^52: the largest is 1 - 2^-53 (|1/ln u| largest, 2^53), the smallest 2^-53.
  const uMax = 1 - 2 ** -53;
  const uMin = 2 ** -53;
  assert.equal(uMax, (2 ** 52 - 1 + 0.5) / 2 ** 52);
  assert.ok(Number.isFinite(scoreFromU(uMax, MAX_WEIGHT)));
  assert.ok(scoreFromU(uMax, MAX_WEIGHT) * 100 < Number.MAX_VALUE, 'headroom for the selection margins');
  assert.ok(Number.isFinite(MAX_WEIGHT * 5000), 'the weights of 5000 endpoints sum to a finite total');
  assert.ok(scoreFromU(uMin, MIN_POSITIVE_WEIGHT) >= 2 ** -1022, 'not subnormal');
  // The premise: past the bound the score is Infinity, and every tie goes to the id order.
  assert.equal(scoreFromU(uMax, 1.7e308), Infinity);
});

test('a weight past MAX_WEIGHT is refused with file, line and field; every weight at 1.7e308 would skew the map', () => {
  const errs = problemsOf(topology(IDS.map(() => 1.7e308)));
  assert.equal(errs.length, IDS.length);
  assert.equal(errs[0]!.code, 'CONFIG_INVALID');
  assert.equal(
    errs[0]!.message,
    'topo.yaml:7:5: endpoints[0].weight: must be at most 1e+290 (beyond it the rendezvous score overflows; weights are relative, so scale them all down), got 1.7e+308',
  );
  assert.deepEqual(
    errs.map((e) => [e.location.line, e.location.field]),
    IDS.map((_, i) => [7 + 4 * i, `endpoints[${i}].weight`]),
  );
  // One past the bound is enough.
  assert.equal(problemsOf(topology(IDS.map((_, i) => (i === 3 ? 2e290 : 1))))[0]!.location.field, 'endpoints[3].weight');
});

test('a weight above 0 below MIN_POSITIVE_WEIGHT is refused; 0 stays allowed', () => {
  const errs = problemsOf(topology(IDS.map((_, i) => (i === 1 ? 5e-324 : 1))));
  assert.equal(errs.length, 1);
  assert.match(errs[0]!.message, /^topo\.yaml:11:5: endpoints\[1\]\.weight: must be 0 or at least 1e-290 .*, got 5e-324$/);
  assert.doesNotThrow(() => parseConfig(topology(IDS.map((_, i) => (i === 1 ? 0 : 1))), 'topo.yaml'));
});

test('within the bounds only ratios count: weights scaled by 2^960 or 2^-960 give the same map as unscaled', () => {
  const weights = IDS.map((_, i) => i + 1);
  const plain = primaries(topology(weights));
  // Both scaled extremes are inside [MIN_POSITIVE_WEIGHT, MAX_WEIGHT]; a power of two scales every score exactly.
  assert.ok(8 * 2 ** 960 <= MAX_WEIGHT && 2 ** -960 >= MIN_POSITIVE_WEIGHT);
  assert.deepEqual(primaries(topology(weights.map((w) => w * 2 ** 960))), plain);
  assert.deepEqual(primaries(topology(weights.map((w) => w * 2 ** -960))), plain);
  // The bounds themselves are accepted, through YAML as a person writes them.
  assert.doesNotThrow(() => parseConfig(topology(IDS.map(() => 1)).replace('weight: 1\n', 'weight: 1e290\n').replace('weight: 1\n', 'weight: 1e-290\n'), 'topo.yaml'));
});

test('a weight too small for a double (1e-400 reads as 0) is refused at its field, by both parses', () => {
  const plain = topology(IDS.map((_, i) => (i === 2 ? '1e-400' : 1) as number));
  // The same file with an anchor takes only the full parse (plain-yaml.ts).
  const anchored = plain.replace('shards: 1024', 'shards: &s 1024');
  for (const text of [plain, anchored]) {
    const errs = problemsOf(text);
    assert.deepEqual(errs.map((e) => [e.code, e.location.field, e.location.line]), [['CONFIG_INVALID', 'endpoints[2].weight', 15]], text);
    assert.match(errs[0]!.message, /^topo\.yaml:15:5: endpoints\[2\]\.weight: 1e-400 is too small for a double .* would read as 0; write 0 if 0 is meant/);
  }
  assert.equal(problemsOf(topology(IDS.map((_, i) => (i === 0 ? '-1e-400' : 1) as number)))[0]!.location.field, 'endpoints[0].weight');
  // Zero written any way is 0; elsewhere in the file too (here the Kubernetes source's defaultWeight).
  assert.equal(parseConfig(topology(IDS.map((_, i) => (i === 2 ? '0.0e-400' : 1) as number)), 'topo.yaml').topology.endpoints[2]!.weight, 0);
  const k8s = problemsOf('kubernetes:\n  services: [cache]\n  defaultWeight: 1e-999\n');
  assert.deepEqual(k8s.map((e) => [e.location.field, e.location.line]), [['kubernetes.defaultWeight', 3]]);
});
