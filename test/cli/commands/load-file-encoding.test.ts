/**
 * `keyway diff --load FILE` reads a load-snapshot file as editors on Windows save it: a UTF-8 byte
 * order mark first (Notepad, PowerShell's Out-File) and CRLF line ends. The mark was handed to
 * JSON.parse, which refused the whole file as "not valid JSON: InvalidSymbol" at 1:1.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { readLoadSnapshots } from '../../../src/cli/commands/hot-shards-report.js';
import type { CliError } from '../../../src/cli/commands/options.js';

let dir: string;
before(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'keyway-load-encoding-'));
});
after(() => rmSync(dir, { recursive: true, force: true }));

const ranges = [{ file: 'a.yaml', shardCount: 1024 }];
const BOM = Buffer.from([0xef, 0xbb, 0xbf]);
const crlf = (text: string): string => text.replace(/\n/g, '\r\n');

function write(name: string, bytes: Buffer): string {
  const file = path.join(dir, name);
  writeFileSync(file, bytes);
  return file;
}

const SNAPSHOTS = '[\n  {"windowStartMs": 0, "windowMs": 10000,\n   "shards": [{"shard": 7, "requests": 50}],\n   "nodes": [{"nodeId": "a", "requests": 50}]}\n]\n';

test('a load file with a byte order mark and CRLF line ends reads as the same file without them', async () => {
  const plain = await readLoadSnapshots(write('plain.json', Buffer.from(SNAPSHOTS)), ranges);
  const windows = await readLoadSnapshots(write('windows.json', Buffer.concat([BOM, Buffer.from(crlf(SNAPSHOTS))])), ranges);
  assert.deepEqual(windows, plain);
  assert.equal(plain[0]!.shards[0]!.shard, 7);
});

test('errors in a file with a byte order mark and CRLF still name the right line and column', async () => {
  const text = crlf('[{"windowStartMs": 0, "windowMs": 1,\n  "shards": [{"shard": 1, "requests": 2},,],\n  "nodes": []}]');
  const file = write('bad.json', Buffer.concat([BOM, Buffer.from(text)]));
  const err = await readLoadSnapshots(file, ranges).then(
    () => assert.fail('refused'),
    (e: CliError) => e,
  );
  assert.equal(err.exitCode, 2);
  assert.ok(err.message.startsWith(`${file}:2:42: cannot read load snapshots: not valid JSON`), err.message);
});
