/**
 * The file source's periodic stat check when a stat never returns (a network file system whose
 * server went away, mounted `hard`): the checks must not pile up one per interval, each holding a
 * thread of libuv's pool (4 by default, shared with every other file read and DNS lookup).
 */
import assert from 'node:assert/strict';
import fsp from 'node:fs/promises';
import { syncBuiltinESMExports } from 'node:module';
import { test } from 'node:test';
import { setTimeout } from 'node:timers/promises';
import { FileSource } from '../../../src/sources/file/index.js';
import { tempTopology, topologyText } from '../../serve/support.js';

test('a stat that hangs holds one check, not one per interval', async (t) => {
  const topo = await tempTopology(topologyText({ ready: [true] }));
  const src = new FileSource({ file: topo.file, debounce: { holdOffMs: 5, maxDelayMs: 20 }, pollIntervalMs: 10, watchDirectory: false });
  const realStat = fsp.stat;
  const hung: (() => void)[] = [];
  let inFlight = 0;
  let most = 0;
  const restore = (): void => {
    (fsp as { stat: typeof fsp.stat }).stat = realStat;
    syncBuiltinESMExports();
    for (const release of hung.splice(0)) release();
  };
  t.after(async () => {
    restore();
    await src.stop();
    await topo.cleanup();
  });
  await src.start();

  // From now on, a stat of the topology file waits until released (the ESM binding the source
  // imported follows node:fs/promises once the built-in exports are synced).
  (fsp as { stat: unknown }).stat = (async (path: Parameters<typeof realStat>[0], ...rest: unknown[]) => {
    if (String(path) !== topo.file) return realStat(path, ...(rest as []));
    inFlight++;
    most = Math.max(most, inFlight);
    await new Promise<void>((resolve) => hung.push(resolve));
    inFlight--;
    return realStat(path);
  }) as typeof fsp.stat;
  syncBuiltinESMExports();

  await setTimeout(300); // 30 intervals
  const piledUp = most;
  restore();
  assert.ok(piledUp >= 1, 'the periodic check ran');
  assert.equal(piledUp, 1, `${piledUp} stats of the file were waiting at once`);
});

test('a write that lands right after start() read the file is still picked up by the periodic check', async (t) => {
  const topo = await tempTopology(topologyText({ ready: [true] }));
  const src = new FileSource({ file: topo.file, debounce: { holdOffMs: 5, maxDelayMs: 20 }, pollIntervalMs: 10, watchDirectory: false });
  const realOpen = fsp.open;
  const restore = (): void => {
    (fsp as { open: typeof fsp.open }).open = realOpen;
    syncBuiltinESMExports();
  };
  t.after(async () => {
    restore();
    await src.stop();
    await topo.cleanup();
  });
  // The file is rewritten as soon as start() has read it: when the handle it read through closes.
  let wrote = false;
  (fsp as { open: unknown }).open = (async (...args: Parameters<typeof realOpen>) => {
    const handle = await realOpen(...args);
    if (String(args[0]) !== topo.file || wrote) return handle;
    const close = handle.close.bind(handle);
    handle.close = async () => {
      await close();
      wrote = true;
      await fsp.writeFile(topo.file, topologyText({ ready: [true, true] }));
    };
    return handle;
  }) as typeof fsp.open;
  syncBuiltinESMExports();
  await src.start();
  restore();
  assert.ok(wrote, 'the write happened during start()');
  assert.equal(src.current().length, 1, 'start() put the content it read in force');
  await setTimeout(200); // 20 periodic checks
  assert.equal(src.current().length, 2, 'the topology written during start() is in force');
});
