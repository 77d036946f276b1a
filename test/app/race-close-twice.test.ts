// close() is idempotent (RunningServer.close): a second call, while the first is still shutting
// down, must resolve only once the shutdown is over, not at once while stages and ports are still
// open (a caller then reusing the port, or exiting, would race the first close).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { startServer } from '../../src/app/index.js';
import type { ServeStage } from '../../src/core/stage.js';
import { tempTopology, topologyText } from '../serve/support.js';

test('a second close() during the first resolves only after the shutdown is over', async (t) => {
  const topo = await tempTopology(topologyText());
  t.after(() => topo.cleanup());
  let release!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  let stageClosed = false;
  const slow: ServeStage = {
    name: 'slow',
    start: async () => ({
      close: async () => {
        await released;
        stageClosed = true;
      },
    }),
  };
  const server = await startServer({ configFile: topo.file, httpPort: 0, host: '127.0.0.1', stages: [slow], fileWatch: { pollIntervalMs: 0 } });
  const first = server.close();
  let secondDone = false;
  const second = server.close().then(() => (secondDone = true));
  await sleep(50);
  assert.equal(secondDone, false, 'the second close() resolved while a stage was still closing');
  release();
  await Promise.all([first, second]);
  assert.equal(stageClosed, true);
});
