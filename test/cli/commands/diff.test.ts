/**
 * `keyway diff` (docs/cli.md) in-process: how an endpoint's change is described, two invalid files,
 * and the `--load` snapshot file (validated per entry; loads printed as whole numbers).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { runClientCommand } from '../../../src/cli/commands/index.js';
import { describeChange } from '../../../src/cli/commands/diff.js';
import { formatLoad, MAX_LOAD_FILE_BYTES, readLoadSnapshots, renderHotShards } from '../../../src/cli/commands/hot-shards-report.js';
import { moveReport } from '../../../src/cli/commands/move-report.js';
import { CliError } from '../../../src/cli/commands/options.js';
import type { Endpoint } from '../../../src/core/endpoint.js';
import type { HotShardDecision } from '../../../src/core/load.js';
import { computeShardMap } from '../../../src/sharding/index.js';
import { ep } from '../../sharding/handoff-fixtures.js';
import { tempTopology } from '../../serve/support.js';
import { captureIo } from './fake-server.js';

const policy = { shardCount: 64, replicas: 2, spread: 'none' as const };

/** The `endpoints:` words for one endpoint `a` going from `before` to `after`. */
function change(before: Partial<Endpoint>, after: Partial<Endpoint>): string {
  const others = ['b', 'c'].map((id) => ep(id));
  const report = moveReport(computeShardMap([ep('a', before), ...others], policy), computeShardMap([ep('a', after), ...others], policy));
  return describeChange(report.endpoints.find((e) => e.id === 'a')!);
}

test('a change of draining is named as such, not as readiness or "address or locality"', () => {
  assert.equal(change({}, { ready: false, draining: true }), '~a (draining)');
  assert.equal(change({ ready: false }, { ready: false, draining: true }), '~a (draining)');
  assert.equal(change({ ready: false, draining: true }, {}), '~a (no longer draining, ready)');
  assert.equal(change({ ready: false, draining: true }, { ready: false }), '~a (no longer draining)');
  assert.equal(change({}, { ready: false }), '~a (not ready)');
  assert.equal(change({ weight: 1 }, { weight: 3, ready: false, draining: true }), '~a (weight 1->3, draining)');
  assert.equal(change({}, { port: 7001 }), '~a (address, port or locality)');
});

describe('files', () => {
  let dir: Awaited<ReturnType<typeof tempTopology>>;
  let bad2: string;
  let load: (snapshots: unknown) => Promise<string>;
  before(async () => {
    dir = await tempTopology('shards: 0\nendpoints: []\n');
    bad2 = join(dir.dir, 'bad2.yaml');
    await writeFile(bad2, 'shards: 8\nreplicas: 0\nendpoints: []\n');
    let n = 0;
    load = async (snapshots) => {
      const file = join(dir.dir, `load-${n++}.json`);
      await writeFile(file, JSON.stringify(snapshots));
      return file;
    };
  });
  after(() => dir?.cleanup());

  test('two invalid files: both files\' problems are reported, in argument order, exit 2', async () => {
    const io = captureIo();
    const code = await runClientCommand('diff', [dir.file, bad2], {}, io);
    assert.equal(code, 2);
    assert.equal(io.stdout, '');
    const lines = io.stderr.trimEnd().split('\n');
    assert.equal(lines.length, 2, io.stderr);
    assert.ok(lines[0]!.startsWith(`keyway diff: ${dir.file}:1:1: shards: `), lines[0]);
    assert.ok(lines[1]!.startsWith(`${bad2}:2:1: replicas: `), lines[1]);
  });

  test('--load: an entry that is not a snapshot of these maps is refused, naming the file and the entry', async () => {
    const snapshot = { windowStartMs: 0, windowMs: 10_000, shards: [{ shard: 3, requests: 5 }], nodes: [{ nodeId: 'a', requests: 5 }] };
    const ranges = [
      { file: 'old.yaml', shardCount: 1024 },
      { file: 'new.yaml', shardCount: 512 },
    ];
    const refused = async (snapshots: unknown, message: string): Promise<void> => {
      const file = await load(snapshots);
      await assert.rejects(readLoadSnapshots(file, ranges), (err: CliError) => {
        assert.ok(err instanceof CliError && err.exitCode === 2);
        assert.equal(err.message, `${file}: ${message}`);
        return true;
      });
    };
    await refused([snapshot, { ...snapshot, shards: [{ shard: 512, requests: 1 }] }], 'snapshots[1].shards[0].shard: 512 is not a shard of new.yaml (512 shards: 0..511)');
    await refused([{ ...snapshot, shards: [{ shard: 1024, requests: 1 }] }], 'snapshots[0].shards[0].shard: 1024 is not a shard of old.yaml (1024 shards: 0..1023)');
    await refused([{ ...snapshot, shards: [{ shard: 1, requests: 1 }, { shard: 2.5, requests: 1 }] }], 'snapshots[0].shards[1].shard: must be an integer >= 0, got 2.5');
    await refused([{ ...snapshot, shards: [{ shard: -1, requests: 1 }] }], 'snapshots[0].shards[0].shard: must be an integer >= 0, got -1');
    await refused([{ ...snapshot, shards: [{ shard: 4, requests: 1 }, { shard: 4, requests: 2 }] }], 'snapshots[0].shards[1].shard: 4 is listed twice; list each shard once');
    await refused([{ ...snapshot, windowMs: 0 }], 'snapshots[0].windowMs: must be an integer >= 1 (milliseconds), got 0');
    await refused([{ ...snapshot, windowMs: undefined }], 'snapshots[0].windowMs: must be an integer >= 1 (milliseconds), got nothing');
    await refused([{ ...snapshot, shards: [null] }], 'snapshots[0].shards[0]: must be an object {shard, requests}, got null');
    await refused([{ ...snapshot, nodes: [{ nodeId: 7, requests: 1 }] }], 'snapshots[0].nodes[0].nodeId: must be a string, got 7');
    // A valid file: entries sorted as LoadSnapshot promises.
    const ok = await readLoadSnapshots(await load({ snapshots: [{ ...snapshot, shards: [{ shard: 9, requests: 1 }, { shard: 3, requests: 2 }] }] }), ranges);
    assert.deepEqual(ok[0]!.shards.map((s) => s.shard), [3, 9]);
  });

  test('the endpoints line of the command names a drain', async () => {
    const from = join(dir.dir, 'from.yaml');
    const to = join(dir.dir, 'to.yaml');
    const endpoints = (a: string, b: string) =>
      `shards: 64\nendpoints:\n  - {id: a, address: 10.0.0.1, port: 80${a}}\n  - {id: b, address: 10.0.0.2, port: 80${b}}\n  - {id: c, address: 10.0.0.3, port: 80}\n`;
    await writeFile(from, endpoints('', ', ready: false'));
    await writeFile(to, endpoints(', draining: true', ', draining: true'));
    const io = captureIo();
    assert.equal(await runClientCommand('diff', [from, to], {}, io), 0, io.stderr);
    assert.match(io.stdout, /\nendpoints: ~a \(draining\) ~b \(draining\)\n/);
  });

  test('--load through the command: a bad entry exits 2 with the file and entry', async () => {
    const file = await load([{ windowStartMs: 0, windowMs: 10_000, shards: [{ shard: 1024, requests: 1 }], nodes: [] }]);
    const io = captureIo();
    const code = await runClientCommand('diff', ['examples/topology.yaml', 'examples/topology-scale-out.yaml', '--load', file], {}, io);
    assert.equal(code, 2);
    assert.equal(io.stderr, `keyway diff: ${file}: snapshots[0].shards[0].shard: 1024 is not a shard of examples/topology.yaml (1024 shards: 0..1023)\n`);
  });
});

test('the LOAD column shows requests per second as whole numbers (one decimal below 10)', () => {
  const loads = [466.51649576840373, 9.87654, 0.04];
  const decision: HotShardDecision = {
    windowStartMs: 1,
    moves: 0,
    deferred: 0,
    shards: loads.map((load, shard) => ({ shard, load, owners: ['a', 'b'], readers: 2, reason: 'spread', explanation: 'why' }) as HotShardDecision['shards'][number]),
  };
  const rows = renderHotShards('to', decision)[1]!.split('\n').slice(1);
  rows.forEach((row, i) => {
    const cell = row.trim().split(/\s+/)[1]!;
    assert.match(cell, loads[i]! >= 10 ? /^\d+$/ : /^\d+(\.\d)?$/, row);
    assert.ok(Math.abs(Number(cell) - loads[i]!) <= (loads[i]! >= 10 ? 0.5 : 0.05), `${cell} for ${loads[i]}`);
  });
  assert.equal(formatLoad(851), '851');
});

test('--load of a stream that never ends (/dev/zero) stops at the size limit: exit 2 naming the file and the limit', async (t) => {
  if (!existsSync('/dev/zero')) return t.skip('no /dev/zero here');
  const io = captureIo();
  const code = await runClientCommand('diff', ['examples/topology.yaml', 'examples/topology.yaml', '--load', '/dev/zero'], {}, io);
  assert.equal(code, 2, io.stderr);
  assert.equal(io.stderr, `keyway diff: /dev/zero: cannot read load snapshots: the file is larger than ${MAX_LOAD_FILE_BYTES / (1024 * 1024)} MiB, the most keyway diff reads\n`);
});

test('an empty file argument (an unset shell variable) is a usage error naming the argument', async () => {
  const cases: [string[], string][] = [
    [['', 'examples/topology.yaml'], 'OLD.yaml is empty'],
    [['examples/topology.yaml', ''], 'NEW.yaml is empty'],
    [['examples/topology.yaml', 'examples/topology.yaml', '--load', ''], '--load is given an empty value'],
    [['examples/topology.yaml', 'examples/topology.yaml', '--load='], '--load is given an empty value'],
  ];
  for (const [argv, message] of cases) {
    const io = captureIo();
    assert.equal(await runClientCommand('diff', argv, {}, io), 2, io.stderr);
    assert.ok(io.stderr.startsWith(`keyway diff: ${message}`), io.stderr);
    assert.equal(io.stdout, '');
  }
});
