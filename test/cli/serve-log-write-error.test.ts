/**
 * `keyway serve` whose log writes fail (src/app/serve-command.ts): stdout a file on a full disk
 * (ENOSPC; /dev/full here) or a terminal gone (EIO). pino's listener rethrew every write error but
 * EPIPE, so keyway crashed at its first line ("internal error: ENOSPC"), and again at each restart:
 * every proxy lost its control plane because the log could not be written.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { closeSync, existsSync, openSync } from 'node:fs';
import { freePort } from '../../e2e/support/ports.js';
import { tempTopology } from '../serve/support.js';
import { CLI, ONE_NODE_TOPOLOGY } from './support.js';

test('stdout on a full disk: keyway keeps serving, says so once on stderr, and stops at SIGTERM', { skip: !existsSync('/dev/full') }, async (t) => {
  const topo = await tempTopology(ONE_NODE_TOPOLOGY);
  t.after(() => topo.cleanup());
  const httpPort = await freePort();
  const full = openSync('/dev/full', 'w');
  t.after(() => closeSync(full));
  const args = ['serve', '--config', topo.file, '--http-port', String(httpPort), '--xds-port', '0', '--ext-proc-port', 'off', '--host', '127.0.0.1', '--admin-host', '127.0.0.1'];
  const child = spawn(process.execPath, [...CLI, ...args], { stdio: ['ignore', full, 'pipe'] });
  t.after(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  const exited = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  // Before: keyway exited 1 at its first log line, before it listened.
  const deadline = Date.now() + 30_000;
  let ok = false;
  while (!ok) {
    assert.equal(child.exitCode, null, `keyway exited: ${stderr}`);
    assert.ok(Date.now() < deadline, `keyway did not answer /healthz; stderr: ${stderr}`);
    ok = await fetch(`http://127.0.0.1:${httpPort}/healthz`, { signal: AbortSignal.timeout(2000) }).then((r) => r.ok, () => false);
    if (!ok) await new Promise((resolve) => setTimeout(resolve, 50));
  }
  // More lines, each failing again: still serving, still told once.
  for (let i = 0; i < 20; i++) {
    child.kill('SIGHUP');
    const res = await fetch(`http://127.0.0.1:${httpPort}/healthz`, { signal: AbortSignal.timeout(5000) });
    assert.equal(res.status, 200);
  }
  child.kill('SIGTERM');
  // A graceful stop; the status is 1 all the same, as for any command whose output could not be
  // written (src/cli/main.ts says "cannot write the output").
  assert.deepEqual(await exited, [1, null], stderr);
  assert.match(stderr, /cannot write the output: ENOSPC/);
  const told = stderr.match(/writing the log to stdout fails \(ENOSPC[^)]*\)/g) ?? [];
  assert.equal(told.length, 1, stderr);
  assert.match(stderr, /exiting with log lines stdout's reader did not take/);
  assert.doesNotMatch(stderr, /internal error/);
});
