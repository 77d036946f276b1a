/**
 * `keyway serve` whose log reader stays but stops reading (src/app/serve-command.ts): a full
 * stdout pipe (a paused `| less`, a container log driver that blocks) must not stall the process.
 * The log's synchronous writes used to retry every 100 ms inside the event loop, so /healthz,
 * /readyz and xDS stopped answering until the reader read again.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tempTopology } from '../serve/support.js';
import { ONE_NODE_TOPOLOGY, SERVE_ON_LOOPBACK, startServe } from './support.js';


test('a log reader that stops reading: keyway keeps answering, and the lines reach the reader once it reads again', async (t) => {
  const topo = await tempTopology(ONE_NODE_TOPOLOGY);
  t.after(() => topo.cleanup());
  const { child, exited, out, listening } = await startServe(topo.file, SERVE_ON_LOOPBACK, t);
  const port = listening.httpPort;
  // The reader stops: the pipe (64 KiB) and this side's buffer fill.
  child.stdout.pause();
  // Each SIGHUP logs a line of about 110 bytes: some 250 KB in all, several times what the pipe holds.
  for (let i = 0; i < 2500; i++) {
    child.kill('SIGHUP');
    // Before: once the pipe was full, keyway answered nothing until the reader read again.
    const res = await fetch(`http://127.0.0.1:${port}/healthz`, { signal: AbortSignal.timeout(5000) });
    assert.equal(res.status, 200);
  }
  child.stdout.resume();
  await new Promise((resolve) => setTimeout(resolve, 500));
  child.kill('SIGTERM');
  assert.deepEqual(await exited, [0, null], out.stderr);
  // Under the buffer's bound nothing was dropped, and what waited came out in order, up to the last line.
  assert.doesNotMatch(out.stdout, /droppedLogLines/);
  assert.equal(out.stderr, '');
  const msgs = out.stdout.trim().split('\n').map((l) => (JSON.parse(l) as { msg: string }).msg);
  assert.equal(msgs.at(-1), 'stopped');
  assert.ok(msgs.filter((m) => m === 'SIGHUP: re-reading the topology file').length > 1000);
});
