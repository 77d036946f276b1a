// The error-code list is defined once (src/core/errors.ts); docs/errors.md must document exactly it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { ERROR_CODES } from '../src/core/errors.js';

/** The codes in the first column of docs/errors.md's code table (rows like "| `CODE` | ... |"). */
function documentedCodes(): string[] {
  const text = readFileSync(new URL('../docs/errors.md', import.meta.url), 'utf8');
  return [...text.matchAll(/^\|\s*`([A-Z_]+)`\s*\|/gm)].map((m) => m[1]!);
}

test('docs/errors.md documents every error code in ERROR_CODES, once, and no others', () => {
  const documented = documentedCodes();
  assert.deepEqual([...documented].sort(), [...ERROR_CODES].sort());
  assert.equal(new Set(documented).size, documented.length, 'a code documented twice');
});
