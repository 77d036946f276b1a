// Hash contracts across languages: the independent Python implementation in testdata/vectors
// (standard library only) must reproduce every JSON test vector bit for bit.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';

test('the Python implementation of both hash contracts matches every vector', () => {
  const run = spawnSync('python3', ['testdata/vectors/check_vectors.py'], { encoding: 'utf8', timeout: 60_000 });
  assert.equal(run.error, undefined, `python3 could not run: ${String(run.error)}`);
  assert.equal(run.status, 0, `mismatches:\n${run.stdout}\n${run.stderr}`);
  const summary = /(\d+) checks, (\d+) mismatches/.exec(run.stdout);
  assert.ok(summary, `no summary line in: ${run.stdout}`);
  assert.ok(Number(summary[1]) > 500, 'the vectors cover hundreds of cases');
  assert.equal(Number(summary[2]), 0);
});
