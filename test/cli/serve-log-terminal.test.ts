/**
 * `keyway serve` logging to a terminal that takes no output (src/app/serve-command.ts): Ctrl-S, an
 * ssh session whose network stalled, `docker run -t` behind a slow log driver. Node makes stdout
 * blocking when it is a terminal, so the log's synchronous write waited for the terminal and
 * /healthz, /readyz and every xDS stream stalled with it (a full pipe did not: its stdout is
 * non-blocking). `script` gives keyway a terminal; its output is a pipe this test stops reading,
 * so `script` stops reading the terminal, as a stalled ssh session does.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { freePort } from '../../e2e/support/ports.js';
import { tempTopology } from '../serve/support.js';
import { CLI, ONE_NODE_TOPOLOGY } from './support.js';

/** util-linux `script`, and the /proc file that names its child. */
const HAS_SCRIPT = existsSync(`/proc/self/task/${process.pid}/children`) && spawnSync('script', ['--version']).status === 0;

/** The pid of `script`'s one child: the shell it runs, which execs keyway. */
async function childOf(pid: number): Promise<number> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const children = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim();
    if (children !== '') return Number(children.split(' ')[0]);
    assert.ok(Date.now() < deadline, 'script started no child');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

test('a terminal that takes no output: keyway keeps answering', { skip: !HAS_SCRIPT && 'needs util-linux script' }, async (t) => {
  const topo = await tempTopology(ONE_NODE_TOPOLOGY);
  t.after(() => topo.cleanup());
  const httpPort = await freePort();
  const keyway = [process.execPath, ...CLI, 'serve', '--config', topo.file, '--http-port', String(httpPort), '--xds-port', '0', '--ext-proc-port', 'off', '--host', '127.0.0.1', '--admin-host', '127.0.0.1'];
  const shell = `exec ${keyway.map((a) => `'${a.replaceAll("'", `'\\''`)}'`).join(' ')}`;
  const script = spawn('script', ['-q', '-e', '-c', shell, '/dev/null'], { stdio: ['pipe', 'pipe', 'pipe'] });
  const pid = await childOf(script.pid!);
  t.after(() => {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
    script.kill('SIGKILL');
  });
  let seen = '';
  script.stdout.on('data', (d: Buffer) => (seen += d.toString()));
  const deadline = Date.now() + 30_000;
  while (!seen.includes('"msg":"listening"')) {
    assert.ok(Date.now() < deadline && script.exitCode === null, `keyway did not listen: ${seen}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  // The reader stops: this pipe, then script's reads of the terminal, then the terminal fill.
  script.stdout.pause();
  // Each SIGHUP logs a line of about 110 bytes: some 1.3 MB in all, past the log's 1 MiB bound, so
  // keyway also says on stderr (the same terminal) that it drops lines.
  for (let i = 0; i < 12_000; i++) {
    process.kill(pid, 'SIGHUP');
    // Before: after some 150 lines keyway answered nothing until the terminal took output again;
    // with the log's own terminal descriptor alone, it stopped at the stderr notice, past 1 MiB.
    const res = await fetch(`http://127.0.0.1:${httpPort}/healthz`, { signal: AbortSignal.timeout(5000) });
    assert.equal(res.status, 200);
  }
});
