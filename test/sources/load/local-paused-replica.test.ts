// A keyway replica paused for a minute (SIGSTOP, a throttled cgroup, a VM live migration) received
// no load report meanwhile: that is not the nodes' silence (docs/load-reports.md "When reports
// stop"). Its first read after the pause must keep the windows it holds, not hand the policy no
// snapshot (plain rendezvous: every hot shard's moves and readers undone at once, then done again
// as reports come back). Silence while it runs still empties the read after historyWindows windows.
import { test, mock } from 'node:test';
import assert from 'node:assert/strict';
import { LoadAggregate, LocalLoadSource } from '../../../src/sources/load/index.js';

const W = 10_000;
const HISTORY = 6;
const HELD = 77;
const T0 = 1_700_000_000_000;

function setup(t: { after(fn: () => void): void }) {
  mock.timers.enable({ apis: ['setTimeout'] });
  let now = T0 + 500;
  let mono = 1_000;
  const aggregate: LoadAggregate = new LoadAggregate({ windowMs: () => W, onReport: (start) => local.reported(start) });
  const local = new LocalLoadSource({ aggregate, windowMs: () => W, now: () => now, monoNow: () => mono });
  const reads: number[] = [];
  local.onChange(() => void local.latest(HELD, HISTORY).then((s) => reads.push(s.length)));
  t.after(() => {
    void local.close();
    mock.timers.reset();
  });
  return {
    /** The process runs: both clocks and the timers advance together, 10 ms at a time. */
    run(ms: number) {
      for (let done = 0; done < ms; done += 10) {
        now += 10;
        mono += 10;
        mock.timers.tick(10);
      }
    },
    /** The process is stopped for `ms`: the clocks go on; on resume every timer due meanwhile fires once, late. */
    pause(ms: number) {
      now += ms;
      mono += ms;
      mock.timers.tick(ms);
    },
    /** The node reports the window that just closed. */
    reportLastWindow() {
      const start = Math.floor(now / W) * W - W;
      aggregate.reportLoad({ nodeId: 'gpu-a', windowStartMs: start, windowMs: W, totalRequests: 1_000, shards: [{ shard: 3, requests: 1_000 }] });
    },
    reads,
  };
}

/** Lets the reads' promises settle. */
const settle = () => new Promise<void>((r) => setImmediate(r));

test('the first read after a 60 s pause keeps the windows read before it', async (t) => {
  const s = setup(t);
  for (let i = 0; i < 8; i++) {
    s.run(W / 2);
    s.reportLastWindow();
    s.run(W / 2);
  }
  await settle();
  assert.ok(s.reads.length > 0 && s.reads.at(-1)! > 0, 'windows read before the pause');
  const before = s.reads.length;
  s.pause(60_000);
  await settle();
  assert.equal(s.reads.length, before + 1, 'one read on resume');
  assert.ok(s.reads.at(-1)! > 0, `the read after the pause holds the windows from before it (read ${s.reads.at(-1)} windows)`);
});

test('a replica that runs while no node reports still reads no window after historyWindows windows', async (t) => {
  const s = setup(t);
  for (let i = 0; i < 8; i++) {
    s.run(W / 2);
    s.reportLastWindow();
    s.run(W / 2);
  }
  s.pause(60_000);
  await settle();
  assert.ok(s.reads.at(-1)! > 0);
  // No report while it runs: the pause is not counted as silence, the time after it is.
  s.run(HISTORY * W + 2_000);
  await settle();
  assert.equal(s.reads.at(-1), 0, 'no snapshot once historyWindows windows passed without a report while the replica ran');
});
