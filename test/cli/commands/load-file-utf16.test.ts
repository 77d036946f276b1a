/**
 * `keyway diff --load FILE` with a file saved as UTF-16 (Windows PowerShell 5.1's `>` writes it so,
 * with a byte order mark): it was refused as "not valid JSON: InvalidSymbol" at 1:1, which does not
 * say what is wrong. It is refused naming the encoding, as the topology loader does.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { readLoadSnapshots } from '../../../src/cli/commands/hot-shards-report.js';
import { CliError } from '../../../src/cli/commands/options.js';

let dir: string;
before(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'keyway-load-utf16-'));
});
after(() => rmSync(dir, { recursive: true, force: true }));

const SNAPSHOTS = '[{"windowStartMs": 0, "windowMs": 10000, "shards": [{"shard": 7, "requests": 50}], "nodes": []}]\r\n';

function utf16(text: string, bigEndian: boolean): Buffer {
  const le = Buffer.from(`\ufeff${text}`, 'utf16le');
  return bigEndian ? le.swap16() : le;
}

for (const bigEndian of [false, true]) {
  test(`a UTF-16${bigEndian ? 'BE' : 'LE'} load file is refused naming the encoding, exit 2`, async () => {
    const file = path.join(dir, `load-${bigEndian ? 'be' : 'le'}.json`);
    writeFileSync(file, utf16(SNAPSHOTS, bigEndian));
    const err = await readLoadSnapshots(file, [{ file: 'a.yaml', shardCount: 1024 }]).then(
      () => assert.fail('a UTF-16 file was read'),
      (e: unknown) => e,
    );
    assert.ok(err instanceof CliError, String(err));
    assert.equal(err.exitCode, 2);
    assert.equal(err.message, `${file}: cannot read load snapshots: the file is UTF-16 (it starts with a UTF-16 byte order mark); save it as UTF-8`);
  });
}
