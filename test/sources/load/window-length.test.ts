// A reload that changes hotShards.windowMs (docs/load-reports.md "Windows"): a window start that is
// a multiple of both lengths must not sum reports of the old length with those of the new one.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createLoadSignal, LoadAggregate } from '../../../src/sources/load/index.js';
import type { LoadReport } from '../../../src/core/load.js';

const T = 1_700_000_000_000; // a multiple of 10 000 and of 5 000

const rep = (nodeId: string, windowMs: number, requests: number): LoadReport => ({
  nodeId,
  windowStartMs: T,
  windowMs,
  totalRequests: requests,
  shards: [{ shard: 1, requests }],
});

test('after the window length changes, a window holds only reports of the new length', () => {
  let windowMs = 10_000;
  const agg = new LoadAggregate({ windowMs: () => windowMs });
  agg.reportLoad(rep('a', 10_000, 100_000)); // 10 000 req/s over the old 10 s window
  windowMs = 5_000;
  agg.reportLoad(rep('b', 5_000, 500)); // 100 req/s over the new 5 s window, same start
  assert.deepEqual(agg.snapshot(T), { windowStartMs: T, windowMs: 5_000, shards: [{ shard: 1, requests: 100 }], nodes: [{ nodeId: 'b', requests: 100 }] });
  assert.deepEqual(agg.closed(T + 5_000, 1).map((s) => s.nodes.map((n) => n.nodeId)), [['b']], 'and the window is read at the new length');
});

test('a report of the old length arriving after one of the new length is not mixed in either', () => {
  let windowMs = 5_000;
  const agg = new LoadAggregate({ windowMs: () => windowMs });
  agg.reportLoad(rep('b', 5_000, 500));
  windowMs = 10_000;
  agg.reportLoad(rep('a', 10_000, 100_000));
  assert.deepEqual(agg.snapshot(T)?.nodes, [{ nodeId: 'a', requests: 10_000 }]);
  assert.equal(agg.snapshot(T)?.windowMs, 10_000);
});

test('the exported window after a longer window length is one of the new length, not an old window at the same start', async () => {
  let windowMs = 10_000;
  let now = T + 5_000;
  const signal = createLoadSignal(() => ({ windowMs, shardCount: 8, historyWindows: 6, replayWindows: 0, snapshot: { source: 'local' } }) as never, { now: () => now });
  signal.aggregate.reportLoad(rep('a', 10_000, 100_000)); // a 10 s window starting at T
  windowMs = 20_000; // T is a multiple of 20 000 too: the last closed 20 s window starts at T
  now = T + 20_000 + 1;
  // Before: the 10 s window was exported as the 20 s one (its rate over half the span).
  assert.equal(signal.exported(), undefined);
  await signal.close();
});
