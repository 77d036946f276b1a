// The load driver of `keyway serve` (src/app/load-driver.ts, docs/load-reports.md): it reads the
// snapshot source once per window and hands the policy what it read.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import { DEFAULT_HOT_SHARD_SETTINGS } from '../../src/core/load.js';
import { LoadDriver } from '../../src/app/load-driver.js';

/** A Prometheus answer to the load query naming one window, the one that ended at `end`, with shard 3 at 42/s. */
function answer(url: string): string {
  const end = Number(new URL(url).searchParams.get('end'));
  const step = end;
  const windowStart = end - 0.1;
  return JSON.stringify({
    status: 'success',
    data: {
      resultType: 'matrix',
      result: [
        { metric: { load: 'window' }, values: [[step, String(windowStart)]] },
        { metric: { shard: '3' }, values: [[step, '42']] },
      ],
    },
  });
}

test('a Prometheus that answers more slowly than a window still feeds the policy: no read is dropped for a newer one', async () => {
  const settings = { ...DEFAULT_HOT_SHARD_SETTINGS, windowMs: 100, historyWindows: 3, replayWindows: 0, snapshot: { source: 'prometheus' as const, url: 'http://127.0.0.1:9', lagMs: 0 } };
  const realFetch = globalThis.fetch;
  let reads = 0;
  // Every read takes 1.5 windows: the next window's read starts before it answers.
  globalThis.fetch = (async (input: string | URL | Request) => {
    reads++;
    await new Promise((r) => setTimeout(r, 150));
    return new Response(answer(String(input)), { status: 200 });
  }) as typeof fetch;
  const driver = new LoadDriver(settings, pino({ level: 'silent' }));
  globalThis.fetch = realFetch;
  let changes = 0;
  driver.onChange(() => changes++);
  try {
    const deadline = Date.now() + 3000;
    while (driver.latest().length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    assert.ok(reads >= 2, `${reads} reads`);
    assert.ok(driver.latest().length > 0, `after ${reads} reads the policy still has no snapshot`);
    assert.deepEqual(driver.latest().at(-1)!.shards, [{ shard: 3, requests: 42 }]);
    assert.ok(changes > 0);
  } finally {
    await driver.close();
  }
});

test('a Prometheus that stops answering: the snapshots are kept for historyWindows failed reads, then dropped (plain rendezvous)', async () => {
  const settings = { ...DEFAULT_HOT_SHARD_SETTINGS, windowMs: 100, historyWindows: 3, replayWindows: 0, snapshot: { source: 'prometheus' as const, url: 'http://127.0.0.1:9', lagMs: 0 } };
  const realFetch = globalThis.fetch;
  let reads = 0;
  let down = false;
  let failedReads = 0;
  globalThis.fetch = (async (input: string | URL | Request) => {
    reads++;
    if (down) {
      failedReads++;
      return new Response('unavailable', { status: 503 });
    }
    return new Response(answer(String(input)), { status: 200 });
  }) as typeof fetch;
  const driver = new LoadDriver(settings, pino({ level: 'silent' }));
  globalThis.fetch = realFetch;
  const waitFor = async (ok: () => boolean): Promise<void> => {
    const deadline = Date.now() + 3000;
    while (!ok() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
  };
  try {
    await waitFor(() => driver.latest().length > 0);
    assert.ok(driver.latest().length > 0, `no snapshot after ${reads} reads`);
    assert.equal(driver.snapshotReadFailures(), 0);
    down = true;
    await waitFor(() => failedReads >= 2);
    // Read together (no read can end between them): fewer failed reads than historyWindows keep the snapshots.
    const [failed, held] = [failedReads, driver.latest().length];
    if (failed < settings.historyWindows) assert.ok(held > 0, `dropped after ${failed} failed reads`);
    await waitFor(() => driver.latest().length === 0);
    assert.equal(driver.latest().length, 0, `still held after ${failedReads} failed reads`);
    assert.ok(failedReads >= settings.historyWindows);
    // What keyway_load_snapshot_read_failures shows: the failed reads in a row, 0 again after one succeeds.
    assert.ok(driver.snapshotReadFailures() >= settings.historyWindows, `${driver.snapshotReadFailures()} failed reads counted`);
    down = false;
    await waitFor(() => driver.snapshotReadFailures() === 0);
    assert.equal(driver.snapshotReadFailures(), 0);
  } finally {
    await driver.close();
  }
});

test('a reload to another Prometheus: failed reads count on across it, since the snapshots in force are the old source\'s', async () => {
  // The snapshots in force are as stale as the failed reads since they were read, whichever source
  // failed: counting afresh after a reload would keep them up to twice historyWindows windows.
  const historyWindows = 4;
  const base = { ...DEFAULT_HOT_SHARD_SETTINGS, windowMs: 100, historyWindows, replayWindows: 0 };
  const settings = { ...base, snapshot: { source: 'prometheus' as const, url: 'http://127.0.0.1:9', lagMs: 0 } };
  const realFetch = globalThis.fetch;
  let down = false;
  const failed = { old: 0, new: 0 };
  globalThis.fetch = (async (input: string | URL | Request) => {
    const url = String(input);
    if (url.startsWith('http://127.0.0.1:10/')) {
      failed.new++;
      return new Response('unavailable', { status: 503 });
    }
    if (down) {
      failed.old++;
      return new Response('unavailable', { status: 503 });
    }
    return new Response(answer(url), { status: 200 });
  }) as typeof fetch;
  const driver = new LoadDriver(settings, pino({ level: 'silent' }));
  const waitFor = async (ok: () => boolean): Promise<void> => {
    const deadline = Date.now() + 3000;
    while (!ok() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
  };
  try {
    await waitFor(() => driver.latest().length > 0);
    assert.ok(driver.latest().length > 0, 'no snapshot from the first source');
    down = true;
    await waitFor(() => failed.old >= 2);
    // Reads come once per 100 ms window: let the second failure be counted, well before the third.
    await new Promise((r) => setTimeout(r, 20));
    const before = failed.old;
    assert.ok(before < historyWindows && driver.latest().length > 0, `${before} failed reads of the old source`);
    driver.reconfigure({ ...settings, snapshot: { ...settings.snapshot, url: 'http://127.0.0.1:10' } });
    await waitFor(() => driver.latest().length === 0);
    assert.equal(driver.latest().length, 0, `still held after ${before} + ${failed.new} failed reads`);
    assert.equal(before + failed.new, historyWindows, `dropped after ${before} failed reads of the old source and ${failed.new} of the new one`);
  } finally {
    globalThis.fetch = realFetch;
    await driver.close();
  }
});
