/**
 * A topology file whose parse failed for no fault of its own (`keyway serve` parses a big file in
 * the pipeline worker thread, which a full shard-map computation sharing it may crash or run out
 * of memory): the file is already read and nothing on disk changes, so no watch event and no stat
 * change will come. Like a failed read, it is tried again at the next periodic check, without a
 * SIGHUP (docs/configuration.md "Reloading").
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseConfig } from '../../../src/config/index.js';
import { KeywayError } from '../../../src/core/errors.js';
import { FileSource } from '../../../src/sources/file/index.js';
import { eventually } from '../../support/eventually.js';
import { tempTopology, topologyText } from '../../serve/support.js';

test('a parse the worker failed is tried again at the next stat check, without a change or SIGHUP', async (t) => {
  const topo = await tempTopology(topologyText({ ready: [true] }));
  let failNext = false;
  const src = new FileSource({
    file: topo.file,
    debounce: { holdOffMs: 5, maxDelayMs: 20 },
    pollIntervalMs: 20,
    watchDirectory: false,
    parse: (text, file) => {
      if (failNext) {
        failNext = false;
        throw new KeywayError('INTERNAL', 'the pipeline worker exited (code 1)');
      }
      return parseConfig(text, file);
    },
  });
  t.after(async () => {
    await src.stop();
    await topo.cleanup();
  });
  await src.start();
  const seen: number[] = [];
  src.onConfig((cfg) => void seen.push(cfg.topology.endpoints.length));

  // The periodic check sees the new file and its reload fails: the check has nothing new to see after.
  failNext = true;
  await topo.write(topologyText({ ready: [true, true] }));
  await eventually('the failed parse', () => src.lastError(), { timeoutMs: 20_000 });
  assert.match(src.lastError()!.message, /pipeline worker/);
  assert.equal(src.config().topology.endpoints.length, 1, 'the failed parse changed nothing');

  await eventually('the file applied by a later check', () => src.config().topology.endpoints.length === 2, { timeoutMs: 20_000 });
  assert.deepEqual(seen, [2]);
  assert.equal(src.lastError(), undefined);
});
