/**
 * `keyway diff --load FILE` on a file that is not valid JSON names where (docs/cli.md): FILE:LINE:COLUMN,
 * as topology errors do, on one line. V8's own message gave no position for most mistakes ("Unexpected
 * token ','") and quoted the input across lines; a number too large for a double was reported as
 * "got null".
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { readLoadSnapshots } from '../../../src/cli/commands/hot-shards-report.js';
import { jsonSyntaxProblem } from '../../../src/cli/commands/json-error.js';
import type { CliError } from '../../../src/cli/commands/options.js';

let dir: string;
before(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'keyway-load-json-'));
});
after(() => rmSync(dir, { recursive: true, force: true }));

const ranges = [{ file: 'a.yaml', shardCount: 1024 }];

async function refusal(text: string): Promise<CliError> {
  const file = path.join(dir, `f${Math.random().toString(36).slice(2)}.json`);
  writeFileSync(file, text);
  let caught: CliError | undefined;
  await readLoadSnapshots(file, ranges).catch((err: CliError) => (caught = err));
  assert.ok(caught, `refused: ${text}`);
  assert.equal(caught.exitCode, 2);
  assert.ok(caught.message.startsWith(file), caught.message);
  return Object.assign(caught, { message: caught.message.slice(file.length) });
}

test('a JSON syntax error is located as FILE:LINE:COLUMN, on one line', async () => {
  const cases: [string, string][] = [
    ['[{"windowStartMs": 0, "windowMs": 1,\n  "shards": [{"shard": 1, "requests": 2},,],\n  "nodes": []}]', ':2:42:'],
    ['[\n{"a": 1,\n"b": }\n]', ':3:6:'],
    ['[1, 2', ':1:6:'],
    ['\n\n  [tru]', ':3:4:'],
    ['[1]\nx', ':2:1:'],
    ['{"snapshots": [\n01]}', ':2:2:'],
    ['["a\tb"]', ':1:2:'], // the string that holds the tab
    ['', ':1:1:'],
  ];
  for (const [text, where] of cases) {
    const err = await refusal(text);
    assert.ok(err.message.startsWith(`${where} cannot read load snapshots: not valid JSON`), `${JSON.stringify(text)}: ${err.message}`);
    assert.ok(!err.message.includes('\n'), `one line: ${err.message}`);
  }
});

test('the JSON scan finds a position for every text JSON.parse refuses, and copes with deep nesting', () => {
  const invalid = ['[1,]', '{"a":1,}', '{a:1}', "'x'", '01', '1.', '.5', '+1', '[1 2]', '"\\x"', '"\\u12"', 'nul', '{"a" 1}', '[', '{"a":', '"abc', '1e', 'NaN', '[1] // c'];
  for (const v of invalid) {
    assert.throws(() => JSON.parse(v), SyntaxError, `premise: ${v} is invalid`);
    assert.ok(jsonSyntaxProblem(v), v);
  }
  // Nested past the parser's stack: no position, and no crash (the caller then quotes V8's message).
  assert.equal(jsonSyntaxProblem(`${'['.repeat(1_000_000)}x`), undefined);
});

test('a number too large for a double is not reported as null', async () => {
  const err = await refusal('[{"windowStartMs": 0, "windowMs": 1, "shards": [{"shard": 1, "requests": 1e400}], "nodes": []}]');
  assert.match(err.message, /requests: must be a number >= 0, got Infinity/);
});
