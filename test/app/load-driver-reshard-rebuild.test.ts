// A reload that changes the shard count S and also rebuilds the load source (a new window length,
// or a switch to `local`): the window under way at the change mixes requests counted under both S
// (nodes learn the new S from their assignments), so, as when the source is kept, only windows
// begun after the change are read (docs/load-reports.md "A change of shards").
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { windowStart } from '../../src/core/load.js';
import { LoadDriver } from '../../src/app/load-driver.js';
import { settings, silent, W, waitFor } from './load-driver-support.js';


/** Waits until `ms` is at least 40 ms past a window start of length `w`, so a step does not straddle a window end. */
async function earlyInWindow(w: number): Promise<void> {
  await waitFor(() => Date.now() - windowStart(Date.now(), w) >= 40 && Date.now() - windowStart(Date.now(), w) < w / 2);
}

for (const [name, change] of [
  ['a new window length', { windowMs: 2 * W }],
  ['a switch from prometheus to local', {}],
] as const) {
  test(`a new S with ${name} does not read the window under way at the change`, async (t) => {
    const before = name.startsWith('a switch') ? { ...settings, snapshot: { source: 'prometheus' as const, url: 'http://127.0.0.1:9', lagMs: 0 } } : settings;
    const driver = new LoadDriver({ ...before, shardCount: 64 } as typeof settings & { shardCount: number }, silent);
    t.after(() => driver.close());
    const after = { ...settings, ...change, shardCount: 32 };
    await earlyInWindow(after.windowMs);
    driver.reconfigure(after);
    // A node still on S = 64 reports the window under way at the change: its shard 5 names other keys under S = 32.
    const mixed = windowStart(Date.now(), after.windowMs);
    await waitFor(() => Date.now() >= mixed + after.windowMs + 10);
    driver.reportLoad({ nodeId: 'n1', windowStartMs: mixed, windowMs: after.windowMs, totalRequests: 1000, shards: [{ shard: 5, requests: 900 }] });
    await new Promise((r) => setTimeout(r, 150));
    assert.deepEqual(
      driver.latest().map((s) => s.windowStartMs),
      [],
      'the window under way at the change of S is not read',
    );
  });
}

test('a window-length reload after a new S, in the same window, still does not read the window under way at the change', async (t) => {
  const driver = new LoadDriver({ ...settings, shardCount: 64 }, silent);
  t.after(() => driver.close());
  await earlyInWindow(2 * W);
  driver.reconfigure({ ...settings, shardCount: 32 });
  const mixed = windowStart(Date.now(), 2 * W);
  driver.reconfigure({ ...settings, windowMs: 2 * W, shardCount: 32 });
  await waitFor(() => Date.now() >= mixed + 2 * W + 10);
  driver.reportLoad({ nodeId: 'n1', windowStartMs: mixed, windowMs: 2 * W, totalRequests: 1000, shards: [{ shard: 5, requests: 900 }] });
  await new Promise((r) => setTimeout(r, 150));
  assert.deepEqual(driver.latest().map((s) => s.windowStartMs), [], 'the window under way at the change of S is not read');
});

test('a reload to a shorter window after a new S reads the windows begun after the change, not only those after the old length\'s window', async (t) => {
  const driver = new LoadDriver({ ...settings, windowMs: 4 * W, shardCount: 64 }, silent);
  t.after(() => driver.close());
  await earlyInWindow(4 * W);
  const changedAt = Date.now();
  driver.reconfigure({ ...settings, windowMs: 4 * W, shardCount: 32 });
  driver.reconfigure({ ...settings, shardCount: 32 });
  // Begun after the change of S, ended before the window of 4 W under way at the change: counted under S = 32 only.
  const clean = windowStart(changedAt, W) + W;
  assert.ok(clean + W <= windowStart(changedAt, 4 * W) + 4 * W);
  await waitFor(() => Date.now() >= clean + W + 10);
  driver.reportLoad({ nodeId: 'n1', windowStartMs: clean, windowMs: W, totalRequests: 1000, shards: [{ shard: 5, requests: 900 }] });
  await waitFor(() => driver.latest().length > 0, 1000);
  assert.deepEqual(driver.latest().map((s) => s.windowStartMs), [clean], 'a window counted under the new S only is read');
});
