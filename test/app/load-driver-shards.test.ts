// A change of the shard count S and the load history (docs/load-reports.md "A change of shards"):
// windows counted under the old S hold shard numbers that name other keys now, so the load driver
// must not hand them to the hot-shard policy for the new map.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { windowStart, type LoadSnapshot } from '../../src/core/load.js';
import { LoadDriver, loadSignalSettings } from '../../src/app/load-driver.js';
import { settings, silent, W, waitFor } from './load-driver-support.js';
import type { KeywayConfig } from '../../src/config/index.js';
import { computeShardMap, decideHotShards } from '../../src/sharding/index.js';


/** Node n1 reports one closed window in which shard 5 carried most of its requests. */
function reportHot(driver: LoadDriver, windowStartMs: number): void {
  driver.reportLoad({ nodeId: 'n1', windowStartMs, windowMs: W, totalRequests: 1000, shards: [{ shard: 5, requests: 900 }] });
}

test('loadSignalSettings carries the topology\'s shard count, so a reload can tell a new S', () => {
  const config = { file: 't.yaml', hotShards: settings, topology: { policy: { shardCount: 64, replicas: 2, spread: 'none' } } } as unknown as KeywayConfig;
  assert.equal(loadSignalSettings(config).shardCount, 64);
  assert.equal(loadSignalSettings(config).windowMs, W);
});

test('a new S drops the load windows counted under the old one at once, and reads only windows begun after it', async (t) => {
  const driver = new LoadDriver({ ...settings, shardCount: 64 }, silent);
  t.after(() => driver.close());
  let changes = 0;
  driver.onChange(() => changes++);
  // Two closed windows under S = 64 (reports of closed windows are read after a short debounce).
  const now = windowStart(Date.now(), W);
  reportHot(driver, now - W);
  reportHot(driver, now - 2 * W);
  await waitFor(() => driver.latest().length > 0);
  assert.ok(driver.latest().length > 0, 'the windows under S = 64 are read');

  // What the policy would make of them on the new map: shard 5 of S = 32 names other keys, yet it
  // would be spread (this is the load the old windows would carry over).
  const endpoints = ['a', 'b', 'c', 'd'].map((id) => ({ id, address: '10.0.0.1', port: 7000, locality: { region: 'r', zone: 'z', subzone: 'f' }, weight: 1, ready: true }));
  const newMap = computeShardMap(endpoints, { shardCount: 32, replicas: 2, spread: 'none' });
  const carried = decideHotShards(newMap, driver.latest(), { ...settings, snapshot: { source: 'local' } });
  assert.ok(carried.shards.some((h) => h.shard === 5), 'old windows would spread shard 5 of the new S');

  // The reload: S = 32. The runner decides on the new map right after reconfigure: nothing old is left.
  const before = changes;
  driver.reconfigure({ ...settings, shardCount: 32 });
  assert.deepEqual(driver.latest(), [], 'the snapshots counted under S = 64 are dropped before the new map is decided');
  assert.ok(changes > before, 'the policy is told');
  // A report of an old window arriving late (counted before the change) is not read either.
  reportHot(driver, windowStart(Date.now(), W) - W);
  await new Promise((r) => setTimeout(r, 120));
  assert.deepEqual(driver.latest(), [], 'a window counted before the change is not read after it');

  // The first window begun after the change is read once it closes.
  const next = windowStart(Date.now(), W) + W;
  await waitFor(() => Date.now() >= next + W + 10);
  driver.reportLoad({ nodeId: 'n1', windowStartMs: next, windowMs: W, totalRequests: 1000, shards: [{ shard: 7, requests: 900 }] });
  await waitFor(() => driver.latest().length > 0);
  const read: readonly LoadSnapshot[] = driver.latest();
  assert.deepEqual(
    read.map((s) => s.windowStartMs),
    [next],
    'only the window begun after the change',
  );
  assert.deepEqual(read[0]!.shards.map((s) => s.shard), [7]);
});

test('a reload that keeps S keeps the load windows', async (t) => {
  const driver = new LoadDriver({ ...settings, shardCount: 64 }, silent);
  t.after(() => driver.close());
  const now = windowStart(Date.now(), W);
  reportHot(driver, now - W);
  await waitFor(() => driver.latest().length > 0);
  const held = driver.latest();
  assert.ok(held.length > 0);
  driver.reconfigure({ ...settings, shardCount: 64, epsilon: 0.2 } as typeof settings & { shardCount: number });
  assert.equal(driver.latest(), held);
});
