/**
 * Unknown aliases are problems like any other: a file lists the first MAX_REPORTED_PROBLEMS and
 * counts the rest. They were listed whole, up to MAX_YAML_ALIASES (1000) of them, past the cap
 * docs/configuration.md "Errors" states. The error for too many aliases, the reason the file
 * cannot be read at all, stays listed however many unknown aliases come before it.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MAX_YAML_ALIASES, parseConfig } from '../../src/config/load.js';
import { MAX_REPORTED_PROBLEMS } from '../../src/config/fields.js';
import { type KeywayError, KeywayErrors } from '../../src/core/errors.js';

function problemsOf(text: string): readonly KeywayError[] {
  try {
    parseConfig(text, 'a.yaml');
  } catch (err) {
    assert.ok(err instanceof KeywayErrors, `expected KeywayErrors, got ${String(err)}`);
    return err.errors;
  }
  assert.fail('the file was accepted');
}

const unknownAliases = (n: number): string => `endpoints:\n${Array.from({ length: n }, (_, i) => `  - *nope${i}\n`).join('')}`;

test('unknown aliases past the problem cap are counted, not listed', () => {
  const problems = problemsOf(unknownAliases(MAX_YAML_ALIASES));
  assert.equal(problems.length, MAX_REPORTED_PROBLEMS + 1);
  assert.equal(problems[0]!.message, 'a.yaml:2:5: invalid YAML: unknown alias *nope0: no anchor &nope0 is set before it');
  assert.equal(problems.at(-2)!.location.line, 1 + MAX_REPORTED_PROBLEMS);
  assert.equal(problems.at(-1)!.message, `a.yaml: ${MAX_YAML_ALIASES - MAX_REPORTED_PROBLEMS} more problems not listed (a file's first ${MAX_REPORTED_PROBLEMS} are); fix these and read the file again`);
  // At the cap nothing is counted.
  assert.equal(problemsOf(unknownAliases(MAX_REPORTED_PROBLEMS)).length, MAX_REPORTED_PROBLEMS);
});

test('past MAX_YAML_ALIASES the limit error is listed last among the first problems, the unknown aliases beyond them counted', () => {
  const problems = problemsOf(unknownAliases(MAX_YAML_ALIASES + 1));
  assert.equal(problems.length, MAX_REPORTED_PROBLEMS + 1);
  const limit = problems.at(-2)!;
  assert.equal(limit.code, 'CONFIG_PARSE');
  assert.equal(limit.location.line, 2 + MAX_YAML_ALIASES);
  assert.match(limit.message, /more than 1000 aliases in one file/);
  const more = MAX_YAML_ALIASES - (MAX_REPORTED_PROBLEMS - 1);
  assert.equal(problems.at(-1)!.message, `a.yaml: ${more} more problems not listed (a file's first ${MAX_REPORTED_PROBLEMS} are); fix these and read the file again`);
});
