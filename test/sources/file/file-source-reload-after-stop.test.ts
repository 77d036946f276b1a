/**
 * A reload asked for once the file source has stopped (SIGHUP during keyway's graceful shutdown,
 * or RunningServer.reload() after close()): nothing reads or parses the file any more. Before, it
 * was read and parsed as usual: a big file in a new pipeline worker thread, started after the
 * runner had terminated its thread, and its listeners told of a file nobody applies.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseConfig } from '../../../src/config/index.js';
import { FileSource } from '../../../src/sources/file/index.js';
import { tempTopology, topologyText } from '../../serve/support.js';

test('reload() after stop() reads and parses nothing, and tells no listener', async (t) => {
  const topo = await tempTopology(topologyText({ ready: [true] }));
  t.after(() => topo.cleanup());
  let parses = 0;
  const src = new FileSource({
    file: topo.file,
    pollIntervalMs: 0,
    watchDirectory: false,
    parse: (text, file) => {
      parses++;
      return parseConfig(text, file);
    },
  });
  await src.start();
  const told: string[] = [];
  src.onConfig(() => void told.push('config'));
  src.onError(() => void told.push('error'));
  await src.stop();
  const before = parses;

  await topo.write(topologyText({ ready: [true, true] }));
  await src.reload();
  await topo.cleanup(); // a missing file: a read error, had it been read
  await src.reload();
  assert.equal(parses, before, 'the file was parsed after stop()');
  assert.deepEqual(told, []);
  assert.equal(src.config().topology.endpoints.length, 1);
});
