import { test } from 'node:test';
import assert from 'node:assert/strict';
import { age, percent, renderFields, renderTable } from '../../../src/cli/commands/table.js';

test('renderTable pads columns to the widest cell and right-aligns numbers', () => {
  const out = renderTable(
    [{ header: 'NAME' }, { header: 'N', align: 'right' }, { header: 'NOTE' }],
    [
      ['gpu-a1', '5', 'x'],
      ['b', '1234', ''],
    ],
  );
  assert.equal(out, ['NAME       N  NOTE', 'gpu-a1     5  x', 'b       1234'].join('\n') + '\n');
});

test('percent, age and renderFields', () => {
  assert.equal(percent(1, 8), '12.5%');
  assert.equal(percent(1, 0), '-');
  assert.equal(age(45_000), '45s');
  assert.equal(age(3_723_000), '1h2m');
  assert.equal(age(-1), '-');
  assert.equal(renderFields([['key', 'a'], ['shard', '5']]), 'key    a\nshard  5\n');
});
