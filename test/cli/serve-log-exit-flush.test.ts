/**
 * `keyway serve` stopping while log lines still wait for a slow stdout reader (src/app/serve-command.ts):
 * the exit waits a bounded time for the reader to take them. It used to exit at once, and the lines
 * that waited ("stopped" among them) were lost without a word.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tempTopology } from '../serve/support.js';
import { ONE_NODE_TOPOLOGY, SERVE_ON_LOOPBACK, startServe } from './support.js';

/** Starts keyway with piped output, fills stdout's pipe while its reader is paused, and sends SIGTERM. */
async function stopWithLinesWaiting(t: { after(fn: () => unknown): void }) {
  const topo = await tempTopology(ONE_NODE_TOPOLOGY);
  t.after(() => topo.cleanup());
  const { child, exited, out, listening } = await startServe(topo.file, SERVE_ON_LOOPBACK, t);
  const port = listening.httpPort;
  child.stdout.pause();
  // Each SIGHUP logs a line of about 110 bytes: some 150 KB, more than the pipe and this side's buffer hold.
  for (let i = 0; i < 1500; i++) {
    child.kill('SIGHUP');
    await fetch(`http://127.0.0.1:${port}/healthz`, { signal: AbortSignal.timeout(5000) });
  }
  child.kill('SIGTERM');
  return { child, exited, out };
}

test('a reader that reads again soon after SIGTERM gets every line, up to "stopped"', async (t) => {
  const { child, exited, out } = await stopWithLinesWaiting(t);
  await new Promise((resolve) => setTimeout(resolve, 300));
  child.stdout.resume();
  assert.deepEqual(await exited, [0, null], out.stderr);
  const msgs = out.stdout.trim().split('\n').map((l) => (JSON.parse(l) as { msg: string }).msg);
  // Before: keyway exited at once and the lines still waiting, "stopped" among them, were lost.
  assert.equal(msgs.at(-1), 'stopped');
  assert.equal(msgs.filter((m) => m === 'SIGHUP: re-reading the topology file').length, 1500);
  assert.equal(out.stderr, '');
});

test('a reader that never reads again: the exit waits a bounded time and says the lines are lost', async (t) => {
  const { exited, out } = await stopWithLinesWaiting(t);
  const started = Date.now();
  assert.deepEqual(await exited, [0, null], out.stderr);
  assert.ok(Date.now() - started < 10_000, 'the exit does not wait for ever');
  assert.match(out.stderr, /exiting with log lines stdout's reader did not take \(not within 2000 ms\); they are lost/);
});

test('a second signal while the exit waits for the reader: exit at once with 1 (README "Running keyway")', async (t) => {
  const { child, exited, out } = await stopWithLinesWaiting(t);
  await new Promise((resolve) => setTimeout(resolve, 300));
  const started = Date.now();
  child.kill('SIGTERM');
  assert.deepEqual(await exited, [1, null], out.stderr);
  assert.ok(Date.now() - started < 1500, 'not held for the whole wait');
  assert.match(out.stderr, /exiting with log lines stdout's reader did not take \(second signal\); they are lost/);
});
