/**
 * `keyway serve` whose log reader stays but stops reading (src/app/serve-command.ts): a full
 * stdout pipe (a paused `| less`, a container log driver that blocks) must not stall the process.
 * The log's synchronous writes used to retry every 100 ms inside the event loop, so /healthz,
 * /readyz and xDS stopped answering until the reader read again.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { tempTopology } from '../serve/support.js';
import { CLI } from './support.js';

const TOPOLOGY = 'shards: 8\nreplicas: 1\nendpoints: [{id: a, address: 127.0.0.1, port: 7001}]\n';

test('a log reader that stops reading: keyway keeps answering, and the lines reach the reader once it reads again', async (t) => {
  const topo = await tempTopology(TOPOLOGY);
  t.after(() => topo.cleanup());
  const args = ['serve', '--config', topo.file, '--http-port', '0', '--xds-port', '0', '--ext-proc-port', 'off', '--host', '127.0.0.1', '--admin-host', '127.0.0.1'];
  const child = spawn(process.execPath, [...CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  t.after(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  const exited = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const deadline = Date.now() + 30_000;
  while (!stdout.includes('"msg":"listening"')) {
    if (Date.now() > deadline || child.exitCode !== null) throw new Error(`keyway did not listen; stderr: ${stderr}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  const port = (JSON.parse(stdout.split('\n').find((l) => l.includes('"msg":"listening"'))!) as { httpPort: number }).httpPort;
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
  assert.deepEqual(await exited, [0, null], stderr);
  // Under the buffer's bound nothing was dropped, and what waited came out in order, up to the last line.
  assert.doesNotMatch(stdout, /droppedLogLines/);
  assert.equal(stderr, '');
  const msgs = stdout.trim().split('\n').map((l) => (JSON.parse(l) as { msg: string }).msg);
  assert.equal(msgs.at(-1), 'stopped');
  assert.ok(msgs.filter((m) => m === 'SIGHUP: re-reading the topology file').length > 1000);
});
