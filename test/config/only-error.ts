/** The one error the topology loader refuses `text` with (the tests of its parser limits). */
import assert from 'node:assert/strict';
import { parseConfig } from '../../src/config/load.js';
import { KeywayErrors } from '../../src/core/errors.js';

export interface OneError {
  readonly code: string;
  readonly line?: number;
  readonly column?: number;
  readonly message: string;
}

/** Parses `text` as file `file`; fails the test unless it is refused with exactly one error. */
export function onlyError(text: string, file: string): OneError {
  try {
    parseConfig(text, file);
  } catch (err) {
    assert.ok(err instanceof KeywayErrors, `expected KeywayErrors, got ${String(err)}`);
    assert.equal(err.errors.length, 1, err.message.slice(0, 500));
    const e = err.errors[0]!;
    return { code: e.code, message: e.message, ...e.location };
  }
  assert.fail('the file was accepted');
}
