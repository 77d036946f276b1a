// A node that reports a closed window over and over (a bug, or on purpose) must not make keyway
// re-read its load snapshots, and replay the hot-shard policy whole, for each report
// (docs/load-reports.md "source: local"): reports that arrive before the window's own read are read
// by it, and later ones are announced at most once per settle time (1 s with these windows).
import { test, mock } from 'node:test';
import assert from 'node:assert/strict';
import { LoadAggregate, LocalLoadSource } from '../../../src/sources/load/index.js';

const W = 10_000;
const T0 = 1_700_000_000_000;

function setup(t: { after(fn: () => void): void }) {
  mock.timers.enable({ apis: ['setTimeout'] });
  let now = T0 + 500;
  const clock = {
    now: () => now,
    /** Advances the clock and the mocked timers together, in steps of 10 ms. */
    advance(ms: number) {
      for (let done = 0; done < ms; done += 10) {
        now += 10;
        mock.timers.tick(10);
      }
    },
  };
  const aggregate: LoadAggregate = new LoadAggregate({ windowMs: () => W, onReport: (start) => local.reported(start) });
  const local = new LocalLoadSource({ aggregate, windowMs: () => W, now: clock.now });
  let announced = 0;
  local.onChange(() => announced++);
  t.after(() => {
    void local.close();
    mock.timers.reset();
  });
  const report = (nodeId: string, windowStartMs: number, requests: number) =>
    aggregate.reportLoad({ nodeId, windowStartMs, windowMs: W, totalRequests: requests, shards: [{ shard: 1, requests }] });
  return { clock, report, announced: () => announced };
}

test('one node re-reporting the last closed window every 100 ms is announced at most once per settle time', (t) => {
  const { clock, report, announced } = setup(t);
  clock.advance(W - 500); // T0 + W: the first window has just closed
  const before = announced();
  // Three windows of reports for the window just closed, every 100 ms, each with another count.
  for (let i = 0; i < 300; i++) {
    report('gpu-bad', Math.floor((T0 + W + i * 100) / W) * W - W, 1_000 + i);
    clock.advance(100);
  }
  const reads = announced() - before;
  // 30 s: a read per window (end + 1 s) and at most one late announcement per second (was 303).
  assert.ok(reads <= 3 + 30, `${reads} announcements in 3 windows (each one a re-read, and a whole replay of the policy when a window read changed)`);
});

test('reports that arrive before their window is first read are read by it, not announced one by one', (t) => {
  const { clock, report, announced } = setup(t);
  clock.advance(W - 500 + 20); // 20 ms after the first window's end: the agents send now
  const before = announced();
  for (let n = 0; n < 50; n++) {
    report(`gpu-${n}`, T0, 100);
    clock.advance(10);
  }
  clock.advance(1_000); // past end + settle (1 s): the window's read
  assert.equal(announced() - before, 1, 'one read of the window, with every report in');
});

test('a report for a window already read is still announced at once', (t) => {
  const { clock, report, announced } = setup(t);
  clock.advance(W - 500 + 2_000); // the first window was read at its end + 1 s
  const before = announced();
  report('gpu-late', T0, 5);
  clock.advance(100);
  assert.equal(announced() - before, 1, 'announced after the debounce, not at the next window read');
});

test('a second late report within the settle time is announced when it has passed, not dropped', (t) => {
  const { clock, report, announced } = setup(t);
  clock.advance(W - 500 + 2_000);
  const before = announced();
  report('gpu-late', T0, 5);
  clock.advance(100);
  report('gpu-later', T0, 7);
  clock.advance(500);
  assert.equal(announced() - before, 1, 'the second waits');
  clock.advance(500);
  assert.equal(announced() - before, 2, 'and is announced a settle time after the first');
});
