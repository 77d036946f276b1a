// The load aggregate and the local snapshot source (docs/load-reports.md): per window and node the
// last report wins, snapshots are requests per second quantized to 3 significant digits, only
// closed windows are read, and without reports for `historyWindows` windows the snapshots are empty.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { LoadAggregate, LocalLoadSource, MAX_NODES_PER_WINDOW, MAX_REPORT_LATENESS_WINDOWS, MAX_SNAPSHOT_SHARDS, quantize, snapshotsFromMatrix } from '../../../src/sources/load/index.js';
import type { LoadReport } from '../../../src/core/load.js';

const W = 1_000;
const T0 = 1_700_000_000_000;
const rep = (nodeId: string, windowStartMs: number, totalRequests: number, shards: [number, number][]): LoadReport => ({
  nodeId,
  windowStartMs,
  windowMs: W,
  totalRequests,
  shards: shards.map(([shard, requests]) => ({ shard, requests })),
});

test('quantize keeps 3 significant digits', () => {
  assert.equal(quantize(123456), 123000);
  assert.equal(quantize(0.012345), 0.0123);
  assert.equal(quantize(0), 0);
});

test('the aggregate sums nodes per shard, the last report of a node wins, and reads only closed windows', () => {
  const agg = new LoadAggregate({ windowMs: () => W });
  agg.reportLoad(rep('b', T0, 10, [[1, 5]]));
  agg.reportLoad(rep('a', T0, 999, [[1, 999]]));
  agg.reportLoad(rep('a', T0, 30, [[1, 10], [2, 20]])); // replaces a's first report
  agg.reportLoad(rep('a', T0 + W, 7, [[2, 7]]));
  assert.deepEqual(agg.snapshot(T0), {
    windowStartMs: T0,
    windowMs: W,
    shards: [{ shard: 1, requests: 15 }, { shard: 2, requests: 20 }],
    nodes: [{ nodeId: 'a', requests: 30 }, { nodeId: 'b', requests: 10 }],
  });
  assert.deepEqual(agg.closed(T0 + W + 1, 3).map((s) => s.windowStartMs), [T0], 'the window in progress is not read');
  assert.deepEqual(agg.closed(T0 + 2 * W, 3).map((s) => s.windowStartMs), [T0, T0 + W], 'oldest first');
  assert.deepEqual(agg.closed(T0 + 5 * W, 3), [], 'reports stopped: after historyWindows windows nothing is left');
});

test('a window\'s snapshot is read once and kept until a report for that window arrives', () => {
  const agg = new LoadAggregate({ windowMs: () => W });
  agg.reportLoad(rep('a', T0, 10, [[1, 10]]));
  agg.reportLoad(rep('a', T0 + W, 4, [[2, 4]]));
  const first = agg.snapshot(T0)!;
  const other = agg.snapshot(T0 + W)!;
  assert.equal(agg.snapshot(T0), first, 'the same object while nothing changed');
  assert.equal(agg.closed(T0 + 2 * W, 2)[0], first, 'closed() hands out the same one');
  agg.reportLoad(rep('b', T0, 6, [[1, 6]])); // a late report for the first window
  assert.deepEqual(agg.snapshot(T0)!.shards, [{ shard: 1, requests: 16 }], 'the late report counts');
  assert.notEqual(agg.snapshot(T0), first);
  assert.equal(agg.snapshot(T0 + W), other, 'the other window is untouched');
  assert.deepEqual(first.shards, [{ shard: 1, requests: 10 }], 'a snapshot handed out before is not changed');
});

test('a snapshot keeps the fleet\'s hottest MAX_SNAPSHOT_SHARDS shards', () => {
  const agg = new LoadAggregate({ windowMs: () => W });
  const shards: [number, number][] = Array.from({ length: MAX_SNAPSHOT_SHARDS + 10 }, (_, i) => [i, i + 1]);
  agg.reportLoad(rep('a', T0, 10_000_000, shards));
  const s = agg.snapshot(T0)!;
  assert.equal(s.shards.length, MAX_SNAPSHOT_SHARDS);
  assert.equal(s.shards[0]!.shard, 10, 'the 10 coldest are left out');
});

test('the local source announces each closed window and late reports for closed windows', async (t) => {
  let now = T0 + 100;
  const agg = new LoadAggregate({ windowMs: () => W, onReport: (start) => local.reported(start) });
  const local = new LocalLoadSource({ aggregate: agg, windowMs: () => W, now: () => now, settleMs: 10 });
  t.after(() => local.close());
  let changes = 0;
  local.onChange(() => changes++);
  agg.reportLoad(rep('a', T0, 4, [[0, 4]]));
  assert.deepEqual(await local.latest(4), [], 'the window is still open');
  now = T0 + W + 50;
  agg.reportLoad(rep('b', T0, 2, [[0, 2]])); // late for a closed window, after its read (end + settle 10 ms)
  await new Promise((r) => setTimeout(r, 120));
  assert.ok(changes >= 1, 'a late report is announced');
  const [snap] = await local.latest(4);
  assert.deepEqual(snap!.shards, [{ shard: 0, requests: 6 }]);
});

test('snapshotsFromMatrix turns one query_range answer into one snapshot per window, quantized and sorted', () => {
  const t1 = (T0 + 2 * W) / 1000;
  const t2 = (T0 + 3 * W) / 1000;
  const snaps = snapshotsFromMatrix(
    [
      { metric: { shard: '7' }, values: [[t1, '10.04'], [t2, '12']] },
      { metric: { shard: '2' }, values: [[t2, '3.33333']] },
      { metric: { node: 'b' }, values: [[t1, '5']] },
      { metric: { node: 'a' }, values: [[t1, '5.0001']] },
      { metric: { load: 'window' }, values: [[t1, String(T0 / 1000)], [t2, String((T0 + W) / 1000)]] },
    ],
    W,
  );
  assert.deepEqual(snaps, [
    { windowStartMs: T0, windowMs: W, shards: [{ shard: 7, requests: 10 }], nodes: [{ nodeId: 'a', requests: 5 }, { nodeId: 'b', requests: 5 }] },
    { windowStartMs: T0 + W, windowMs: W, shards: [{ shard: 2, requests: 3.33 }, { shard: 7, requests: 12 }], nodes: [] },
  ]);
});

test('asked for a long span and the recent windows, a source gives nothing once no node reported in the recent ones', async (t) => {
  let now = T0 + W + 1;
  const agg = new LoadAggregate({ windowMs: () => W });
  const local = new LocalLoadSource({ aggregate: agg, windowMs: () => W, now: () => now, settleMs: 10 });
  t.after(() => local.close());
  agg.reportLoad(rep('a', T0, 4, [[0, 4]]));
  assert.equal((await local.latest(20, 3)).length, 1, 'the last closed window has data');
  now = T0 + 3 * W + 1; // windows T0 + W and T0 + 2W passed without reports
  assert.equal((await local.latest(20, 3)).length, 1, 'T0 is still among the last 3 closed windows');
  now = T0 + 4 * W + 1;
  assert.deepEqual(await local.latest(20, 3), [], 'reports stopped for 3 windows: nothing, though T0 is in the span of 20');
  assert.equal((await local.latest(20)).length, 1, 'without recentWindows the whole span is read');
});

test('windows no report can change any more keep their snapshot, not every node\'s report; reports that late are refused by name', async () => {
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  const agg = new LoadAggregate({ windowMs: () => W });
  let old: WeakRef<LoadReport> | undefined;
  (() => {
    const r = rep('a', T0, 10, [[1, 10], [2, 5]]);
    old = new WeakRef(r);
    agg.reportLoad(r);
  })();
  const first = agg.snapshot(T0)!;
  for (let k = 1; k <= MAX_REPORT_LATENESS_WINDOWS; k++) agg.reportLoad(rep('a', T0 + k * W, 1, [[1, 1]]));
  await new Promise((r) => setImmediate(r));
  gc();
  assert.equal(old!.deref(), undefined, 'the report of a window that can no longer change is released');
  assert.equal(agg.snapshot(T0), first, 'its snapshot stays');
  assert.deepEqual(agg.closed(T0 + (MAX_REPORT_LATENESS_WINDOWS + 1) * W, MAX_REPORT_LATENESS_WINDOWS + 1)[0], first);
  assert.throws(() => agg.reportLoad(rep('b', T0, 3, [])), (err: Error) => {
    assert.match(err.message, new RegExp(`window ${T0} from b is ${MAX_REPORT_LATENESS_WINDOWS} windows behind the newest window reported \\(${T0 + MAX_REPORT_LATENESS_WINDOWS * W}\\); reports ${MAX_REPORT_LATENESS_WINDOWS} or more windows late are not recorded`));
    return true;
  });
  agg.reportLoad(rep('b', T0 + W, 3, [[2, 3]])); // 5 windows late: still recorded
  assert.deepEqual(agg.snapshot(T0 + W)!.nodes.map((n) => n.nodeId), ['a', 'b']);
});

test('a window takes reports from MAX_NODES_PER_WINDOW nodes; one more is LIMIT_EXCEEDED, and a node already in it may still report again', () => {
  const agg = new LoadAggregate({ windowMs: () => W });
  for (let i = 0; i < MAX_NODES_PER_WINDOW; i++) agg.reportLoad(rep(`n${i}`, T0, 1, []));
  assert.throws(() => agg.reportLoad(rep('one-more', T0, 1, [])), (err: Error & { code?: string }) => err.code === 'LIMIT_EXCEEDED' && /already holds reports from 4096 nodes \(the limit\); report from one-more ignored/.test(err.message));
  agg.reportLoad(rep('n0', T0, 2, []));
  assert.equal(agg.snapshot(T0)?.nodes.find((n) => n.nodeId === 'n0')?.requests, 2);
});
