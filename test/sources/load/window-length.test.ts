// A reload that changes hotShards.windowMs (docs/load-reports.md "Windows"): a window start that is
// a multiple of both lengths must not sum reports of the old length with those of the new one.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LoadAggregate } from '../../../src/sources/load/index.js';
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
