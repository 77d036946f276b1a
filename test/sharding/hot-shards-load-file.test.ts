/**
 * The load-snapshot file of `keyway diff --load` (src/cli/commands/hot-shards-report.ts) and the
 * policy's window numbering (src/sharding/hot-shard-history.ts): windows are numbered by their own
 * length, so a file mixing lengths would let windows from long before count as recent. Sources keep
 * one length; a hand-made file of several is refused, naming the entry.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { runClientCommand } from '../../src/cli/commands/index.js';
import { readLoadSnapshots } from '../../src/cli/commands/hot-shards-report.js';
import { CliError, type CommandIo } from '../../src/cli/commands/options.js';

let dir: string;
before(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'keyway-load-file-'));
});
after(() => rmSync(dir, { recursive: true, force: true }));

function loadFile(snapshots: unknown): string {
  const file = path.join(dir, `load-${Math.random().toString(36).slice(2)}.json`);
  writeFileSync(file, JSON.stringify(snapshots));
  return file;
}

const T = 1_800_000_000_000;
const snap = (windowStartMs: number, windowMs: number, requests: number) => ({ windowStartMs, windowMs, shards: [{ shard: 3, requests }], nodes: [] });

test('--load: snapshots of two window lengths are refused, naming the first entry of another length', async () => {
  const ranges = [{ file: 'a.yaml', shardCount: 1024 }];
  // Hot 10 s windows, then (after a reload to 20 s windows) two quiet ones: the old 10 s windows
  // number about twice as high as the new ones, so the replay would start at them.
  const file = loadFile({ snapshots: [snap(T - 1_000_000, 10_000, 500), snap(T - 990_000, 10_000, 500), snap(T, 20_000, 1), snap(T + 20_000, 20_000, 1)] });
  await assert.rejects(readLoadSnapshots(file, ranges), (err: unknown) => {
    assert.ok(err instanceof CliError && err.exitCode === 2, String(err));
    assert.equal(err.message, `${file}: snapshots[2].windowMs: 20000 differs from snapshots[0].windowMs (10000); every snapshot of the file must have the same window length`);
    return true;
  });
  // One length, in any order, is read.
  const same = await readLoadSnapshots(loadFile([snap(T + 20_000, 20_000, 1), snap(T, 20_000, 1)]), ranges);
  assert.equal(same.length, 2);
  assert.deepEqual(await readLoadSnapshots(loadFile([]), ranges), []);
});

test('--load through the command: mixed window lengths exit 2 with the file and the entry', async () => {
  const file = loadFile([snap(T, 10_000, 5), snap(T + 10_000, 10_000, 5), snap(T + 20_000, 5_000, 5)]);
  const io: CommandIo & { stdout: string; stderr: string } = { stdout: '', stderr: '', out: (s) => void (io.stdout += s), err: (s) => void (io.stderr += s) };
  const code = await runClientCommand('diff', ['examples/topology.yaml', 'examples/topology.yaml', '--load', file], {}, io);
  assert.equal(code, 2, io.stdout);
  assert.equal(io.stderr, `keyway diff: ${file}: snapshots[2].windowMs: 5000 differs from snapshots[0].windowMs (10000); every snapshot of the file must have the same window length\n`);
});
