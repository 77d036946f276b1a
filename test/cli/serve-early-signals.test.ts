/**
 * Signals that reach `keyway serve` while its modules still load (src/app/held-signals.ts): they
 * are held and answered as documented once serve-command.ts takes them over, rather than taking
 * Node's default (SIGHUP killed the process with 129, SIGTERM with 143). A module-loading hook
 * (given to the child with --import) stops the load at a chosen module until the test has sent its
 * signals, so the window is the same on every machine.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { pathToFileURL } from 'node:url';
import { tempTopology } from '../serve/support.js';
import { CLI, ONE_NODE_TOPOLOGY, SERVE_ON_LOOPBACK } from './support.js';


/** Writes a hook that, on loading a module whose URL ends with `suffix`, writes `reached` and waits for `go`. */
async function loadGate(dir: string, suffix: string): Promise<{ importArg: string; reached: string; open(): Promise<void> }> {
  const reached = join(dir, 'reached');
  const go = join(dir, 'go');
  const hooks = join(dir, 'hooks.mjs');
  await writeFile(
    hooks,
    `import { existsSync, writeFileSync } from 'node:fs';
export async function load(url, context, nextLoad) {
  if (url.endsWith(${JSON.stringify(suffix)})) {
    writeFileSync(${JSON.stringify(reached)}, '');
    while (!existsSync(${JSON.stringify(go)})) await new Promise((r) => setTimeout(r, 10));
  }
  return nextLoad(url, context);
}
`,
  );
  const register = join(dir, 'register.mjs');
  await writeFile(register, `import { register } from 'node:module';\nregister(${JSON.stringify(pathToFileURL(hooks).href)});\n`);
  return { importArg: pathToFileURL(register).href, reached, open: () => writeFile(go, '') };
}

/** Spawns `keyway ARGS` with `gate`; resolves once the load has stopped at the gate. */
async function spawnGated(args: readonly string[], gate: { importArg: string; reached: string }, t: { after(fn: () => void): void }) {
  const child = spawn(process.execPath, ['--import', gate.importArg, ...CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  t.after(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  const exited = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const records: Record<string, unknown>[] = [];
  createInterface({ input: child.stdout }).on('line', (line) => records.push(JSON.parse(line) as Record<string, unknown>));
  const deadline = Date.now() + 30_000;
  while (!existsSync(gate.reached)) {
    if (Date.now() > deadline || child.exitCode !== null) throw new Error(`the load never reached the gate; stderr: ${stderr}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  /** Resolves with the first record `msg` (rejects after 30 s). */
  const logged = async (msg: string): Promise<Record<string, unknown>> => {
    const until = Date.now() + 30_000;
    for (;;) {
      const rec = records.find((r) => r.msg === msg);
      if (rec) return rec;
      if (Date.now() > until || child.exitCode !== null) throw new Error(`no "${msg}" log line; stderr: ${stderr}`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  };
  return { child, exited, logged, records, stderr: () => stderr };
}

/** Lets signals sent to `pid` be delivered (and, without a handler, kill it) before the gate opens. */
const delivered = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, 300));

test('SIGHUPs while keyway serve loads its modules: it starts, re-reads the file once, and SIGTERM then stops it with 0', async (t) => {
  const topo = await tempTopology(ONE_NODE_TOPOLOGY);
  t.after(() => topo.cleanup());
  const gate = await loadGate(topo.dir, '/src/app/index.js');
  const serve = await spawnGated(['serve', '--config', topo.file, ...SERVE_ON_LOOPBACK], gate, t);
  serve.child.kill('SIGHUP');
  serve.child.kill('SIGHUP');
  await delivered();
  // Before: the first SIGHUP killed the process (Node's default), exit 129.
  assert.deepEqual([serve.child.exitCode, serve.child.signalCode], [null, null], serve.stderr());
  await gate.open();
  await serve.logged('listening');
  await serve.logged('SIGHUP: re-reading the topology file');
  assert.equal(serve.records.filter((r) => r.msg === 'SIGHUP: re-reading the topology file').length, 1, 'the reloads asked during the start run once');
  serve.child.kill('SIGTERM');
  assert.deepEqual(await serve.exited, [0, null], serve.stderr());
  await serve.logged('stopped');
});

test('SIGTERM or SIGINT while keyway serve loads its modules: the start is abandoned, exit 0', async (t) => {
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    const topo = await tempTopology(ONE_NODE_TOPOLOGY);
    t.after(() => topo.cleanup());
    const gate = await loadGate(topo.dir, '/src/app/index.js');
    const serve = await spawnGated(['serve', '--config', topo.file, ...SERVE_ON_LOOPBACK], gate, t);
    serve.child.kill(signal);
    await delivered();
    await gate.open();
    // Before: killed by the signal (143 or 130), with no log line.
    assert.deepEqual(await serve.exited, [0, null], `${signal}: ${serve.stderr()}`);
    assert.equal((await serve.logged('signal during start-up: start abandoned')).signal, signal);
    assert.ok(!serve.records.some((r) => r.msg === 'listening'), `${signal}: nothing listens`);
  }
});

test('a command other than serve after all (keyway serve --help) gets a held signal as Node would: killed by it', async (t) => {
  const topo = await tempTopology(ONE_NODE_TOPOLOGY);
  t.after(() => topo.cleanup());
  const gate = await loadGate(topo.dir, '/src/cli/command.js');
  const help = await spawnGated(['serve', '--help'], gate, t);
  help.child.kill('SIGTERM');
  await delivered();
  await gate.open();
  assert.deepEqual(await help.exited, [null, 'SIGTERM'], help.stderr());
});

test('options before the command (keyway --config f serve): signals while the modules load are held too', async (t) => {
  const topo = await tempTopology(ONE_NODE_TOPOLOGY);
  t.after(() => topo.cleanup());
  const gate = await loadGate(topo.dir, '/src/app/index.js');
  const serve = await spawnGated(['--config', topo.file, ...SERVE_ON_LOOPBACK, 'serve'], gate, t);
  serve.child.kill('SIGHUP');
  await delivered();
  assert.deepEqual([serve.child.exitCode, serve.child.signalCode], [null, null], serve.stderr());
  await gate.open();
  await serve.logged('listening');
  serve.child.kill('SIGTERM');
  assert.deepEqual(await serve.exited, [0, null], serve.stderr());
});

test('a client command whose arguments say serve (keyway lookup serve) gets a held signal as Node would', async (t) => {
  const topo = await tempTopology(ONE_NODE_TOPOLOGY);
  t.after(() => topo.cleanup());
  const gate = await loadGate(topo.dir, '/src/cli/commands/index.js');
  const lookup = await spawnGated(['lookup', 'serve', '--server', 'http://127.0.0.1:9'], gate, t);
  lookup.child.kill('SIGTERM');
  await delivered();
  await gate.open();
  // Held and never released, the command ran on and failed to reach keyway (exit 1).
  assert.deepEqual(await lookup.exited, [null, 'SIGTERM'], lookup.stderr());
});
