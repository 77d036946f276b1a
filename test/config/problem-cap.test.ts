/**
 * A file with very many problems reports the first MAX_REPORTED_PROBLEMS, in file order, and one
 * last line counting the rest. A 1 MiB file holds about 500,000 empty list entries, each a problem:
 * kept, they took about 320 MB and made a 48 MB message, which the file source logs and `/readyz`
 * shows on every probe. Every kind of problem counts: parse errors, numbers too small for a double
 * and validation problems.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseConfig } from '../../src/config/load.js';
import { MAX_REPORTED_PROBLEMS } from '../../src/config/fields.js';
import { type KeywayError, KeywayErrors } from '../../src/core/errors.js';

function problemsOf(text: string): readonly KeywayError[] {
  try {
    parseConfig(text, 'many.yaml');
  } catch (err) {
    assert.ok(err instanceof KeywayErrors, `expected KeywayErrors, got ${String(err)}`);
    return err.errors;
  }
  assert.fail('the file was accepted');
}

function listOf(n: number, item: string): string {
  return `endpoints:\n${`- ${item}\n`.repeat(n)}`;
}

/** The cap's shape: the first problems in file order, then one unlocated line counting `more`. */
function assertCapped(problems: readonly KeywayError[], more: number, code: string): void {
  assert.equal(problems.length, MAX_REPORTED_PROBLEMS + 1, problems.at(-1)?.message);
  const listed = problems.slice(0, MAX_REPORTED_PROBLEMS);
  const lines = listed.map((e) => e.location.line ?? 0);
  assert.deepEqual(lines, [...lines].sort((a, b) => a - b), 'in file order');
  assert.ok(listed.every((e) => e.location.file === 'many.yaml' && e.location.line !== undefined));
  const last = problems.at(-1)!;
  assert.equal(last.code, code);
  assert.deepEqual(last.location, { file: 'many.yaml' });
  assert.equal(last.message, `many.yaml: ${more} more problems not listed (a file's first ${MAX_REPORTED_PROBLEMS} are); fix these and read the file again`);
}

test('validation problems past the cap are counted, not listed', () => {
  const n = 5000;
  const problems = problemsOf(listOf(n, '~'));
  assertCapped(problems, n - MAX_REPORTED_PROBLEMS, 'CONFIG_INVALID');
  assert.equal(problems[0]!.message, 'many.yaml:2:3: endpoints[0]: must be a mapping with id, address and port, got nothing');
});

test('parse errors past the cap are counted, not listed', () => {
  const n = 3000;
  const problems = problemsOf(`endpoints: []\nx:\n${'  a: 1\n'.repeat(n + 1)}`);
  assertCapped(problems, n - MAX_REPORTED_PROBLEMS, 'CONFIG_PARSE');
  assert.match(problems[0]!.message, /^many\.yaml:4:3: invalid YAML: Map keys must be unique/);
});

test('numbers too small for a double past the cap are counted with the other problems', () => {
  // Each entry is two problems: its number reads as 0, and it is not a mapping.
  const n = 2000;
  assertCapped(problemsOf(listOf(n, '1e-400')), 2 * n - MAX_REPORTED_PROBLEMS, 'CONFIG_INVALID');
});

test('a file at the cap lists every problem and no count', () => {
  const problems = problemsOf(listOf(MAX_REPORTED_PROBLEMS, '~'));
  assert.equal(problems.length, MAX_REPORTED_PROBLEMS);
  assert.ok(problems.every((e) => e.location.line !== undefined));
});
