import { test } from 'node:test';
import assert from 'node:assert/strict';
import { age, count, percent, printable, renderFields, renderTable } from '../../../src/cli/commands/table.js';

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

test('renderTable takes 200k rows (a Math.max spread of them overflowed the call stack)', () => {
  const rows = Array.from({ length: 200_000 }, (_, i) => [String(i), i === 123_456 ? 'widest-cell' : 'x']);
  const out = renderTable([{ header: 'N', align: 'right' }, { header: 'V' }, { header: 'W' }], rows.map((r) => [...r, 'w']));
  const lines = out.trimEnd().split('\n');
  assert.equal(lines.length, 200_001);
  // Column widths come from the widest cell wherever it is: 6 digits, then 'widest-cell'.
  assert.equal(lines[0], `${'N'.padStart(6)}  ${'V'.padEnd(11)}  W`);
  assert.equal(lines[123_457], `123456  widest-cell  w`);
});

test('printable escapes control characters (C0, DEL, C1) and leaves the rest; cells are escaped', () => {
  assert.equal(printable('a\u001b[31mb\nc\td\re\u0000\u007f\u0085\u009b'), 'a\\e[31mb\\nc\\td\\re\\x00\\x7f\\x85\\x9b');
  assert.equal(printable('plain é ☃ text'), 'plain é ☃ text');
  const out = renderTable([{ header: 'A' }, { header: 'B' }], [['x\ny', 'z']]);
  assert.equal(out, 'A     B\nx\\ny  z\n', 'an escaped cell is measured as printed');
  assert.equal(renderFields([['k', 'v\u001b']]), 'k  v\\e\n');
});

test('count writes the singular for one', () => {
  assert.equal(count(1, 'shard'), '1 shard');
  assert.equal(count(0, 'shard'), '0 shards');
  assert.equal(count(2, 'proxy', 'proxies'), '2 proxies');
  assert.equal(count(1, 'proxy', 'proxies'), '1 proxy');
});
