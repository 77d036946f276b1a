/**
 * The `kubernetes:` section reports its problems as the topology file does: the first
 * MAX_REPORTED_PROBLEMS in file order, then one line, located at the file alone, counting the rest.
 * Each key or list entry of the section can be a problem, so a section of many thousands of them
 * listed every one (hundreds of MB as located errors, and a message of as many MB).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseConfig } from '../../../src/config/index.js';
import { MAX_REPORTED_PROBLEMS } from '../../../src/config/fields.js';
import { type KeywayError, KeywayErrors } from '../../../src/core/errors.js';
import { parseKubernetesSourceConfig } from '../../../src/sources/kubernetes/config.js';

const noEnv = { env: {}, serviceAccountNamespace: () => undefined };

function sectionProblems(yaml: string): readonly KeywayError[] {
  const cfg = parseConfig(yaml, 'k.yaml');
  assert.ok(cfg.kubernetes, 'the file has a kubernetes section');
  try {
    parseKubernetesSourceConfig(cfg.kubernetes, noEnv);
  } catch (err) {
    assert.ok(err instanceof KeywayErrors, `expected KeywayErrors, got ${String(err)}`);
    return err.errors;
  }
  assert.fail('the section was accepted');
}

function assertCapped(problems: readonly KeywayError[], more: number): void {
  assert.equal(problems.length, MAX_REPORTED_PROBLEMS + 1, problems.at(-1)?.message);
  const listed = problems.slice(0, MAX_REPORTED_PROBLEMS);
  const lines = listed.map((e) => e.location.line ?? 0);
  assert.deepEqual(lines, [...lines].sort((a, b) => a - b), 'in file order');
  assert.ok(listed.every((e) => e.code === 'CONFIG_INVALID' && e.location.file === 'k.yaml' && e.location.line !== undefined));
  const last = problems.at(-1)!;
  assert.equal(last.code, 'CONFIG_INVALID');
  assert.deepEqual(last.location, { file: 'k.yaml' });
  assert.equal(last.message, `k.yaml: ${more} more problems not listed (a file's first ${MAX_REPORTED_PROBLEMS} are); fix these and read the file again`);
}

test('unknown keys past the cap are counted, not listed', () => {
  const n = 3000;
  const keys = Array.from({ length: n }, (_, i) => `  bad${i}: 1\n`).join('');
  const problems = sectionProblems(`kubernetes:\n  services: [cache-node]\n${keys}`);
  assertCapped(problems, n - MAX_REPORTED_PROBLEMS);
  assert.match(problems[0]!.message, /^k\.yaml:\d+:3: kubernetes\.bad\d+: unknown setting/);
});

test('bad service names past the cap are counted, not listed', () => {
  const n = 3000;
  const problems = sectionProblems(`kubernetes:\n  services:\n${'  - Bad_Name\n'.repeat(n)}`);
  assertCapped(problems, n - MAX_REPORTED_PROBLEMS);
  assert.equal(problems[0]!.message, 'k.yaml:3:5: kubernetes.services[0]: must be a Service name (a lowercase RFC 1035 label), got "Bad_Name"');
});

test('a section at the cap lists every problem and no count', () => {
  const problems = sectionProblems(`kubernetes:\n  services:\n${'  - Bad_Name\n'.repeat(MAX_REPORTED_PROBLEMS)}`);
  assert.equal(problems.length, MAX_REPORTED_PROBLEMS);
  assert.ok(problems.every((e) => e.location.line !== undefined));
});
