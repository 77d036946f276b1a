/**
 * `keyway serve --admin-token-file` given something other than a small regular file
 * (src/app/serve-command.ts): a device, a directory or an oversized file is refused at once, exit
 * 1, naming the file and why; a pipe is read, and waiting for its writer can be given up. A FIFO
 * with no writer made the start wait in a thread nothing cancels: SIGTERM found it stuck, and the
 * exit then hung too.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { MAX_ADMIN_TOKEN_FILE_BYTES } from '../../src/app/serve-command.js';
import { tempTopology } from '../serve/support.js';
import { CLI, ONE_NODE_TOPOLOGY, SERVE_ON_LOOPBACK } from './support.js';


/** Runs `keyway serve ARGS`, SIGTERM after 10 s and SIGKILL after 15 s: a start that waits is seen, not waited for. */
async function serveBounded(args: readonly string[]): Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [...CLI, 'serve', ...args, ...SERVE_ON_LOOPBACK], { stdio: ['ignore', 'pipe', 'pipe'] });
  const term = setTimeout(() => child.kill('SIGTERM'), 10_000);
  const kill = setTimeout(() => child.kill('SIGKILL'), 15_000);
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const [code, signal] = (await once(child, 'exit')) as [number | null, NodeJS.Signals | null];
  clearTimeout(term);
  clearTimeout(kill);
  return { code, signal, stdout, stderr };
}

test('a directory, a device or an oversized file as --admin-token-file: exit 1 at once, naming the file and why', async (t) => {
  const topo = await tempTopology(ONE_NODE_TOPOLOGY);
  t.after(() => topo.cleanup());
  const big = join(topo.dir, 'big-token');
  await writeFile(big, 'x'.repeat(MAX_ADMIN_TOKEN_FILE_BYTES + 1));
  const cases = [
    { file: topo.dir, why: 'must be a regular file or a pipe, got a directory' },
    // Before: read until Node's 2 GiB limit.
    { file: '/dev/zero', why: 'must be a regular file or a pipe, got a character device' },
    { file: big, why: `holds more than ${MAX_ADMIN_TOKEN_FILE_BYTES} bytes, more than a token \\(MAX_ADMIN_TOKEN_FILE_BYTES\\)` },
  ];
  for (const { file, why } of cases) {
    const r = await serveBounded(['--config', topo.file, '--admin-token-file', file]);
    assert.deepEqual([r.code, r.signal], [1, null], `${file}: ${r.stderr}`);
    assert.match(r.stderr, new RegExp(`keyway: failed to start: --admin-token-file ${file}: ${why}\\n`));
    assert.doesNotMatch(r.stdout, /"msg":"listening"/);
  }
});

test('a FIFO as --admin-token-file: the start waits for its writer, and SIGTERM meanwhile still ends keyway, exit 0', async (t) => {
  const topo = await tempTopology(ONE_NODE_TOPOLOGY);
  t.after(() => topo.cleanup());
  const fifo = join(topo.dir, 'token.fifo');
  execFileSync('mkfifo', [fifo]);
  const { child, exited, out } = serveWithTokenFile(topo.file, fifo, t);
  await until(() => out.stdout.includes('"msg":"tracing'), 'keyway began its start');
  await new Promise((resolve) => setTimeout(resolve, 300)); // the token file is open and waited on
  child.kill('SIGTERM');
  const kill = setTimeout(() => child.kill('SIGKILL'), 10_000);
  const [code, signal] = await exited;
  clearTimeout(kill);
  // Before: the FIFO's open held a threadpool thread, and the exit after "start abandoned" waited
  // on it until SIGKILL.
  assert.deepEqual([code, signal], [0, null], out.stdout);
  assert.match(out.stdout, /"msg":"signal during start-up: start abandoned"/);
});

test('a pipe as --admin-token-file (`<(command)`): the token its writer sends is the one required', async (t) => {
  const topo = await tempTopology(ONE_NODE_TOPOLOGY);
  t.after(() => topo.cleanup());
  const fifo = join(topo.dir, 'token.fifo');
  execFileSync('mkfifo', [fifo]);
  const { child, exited, out } = serveWithTokenFile(topo.file, fifo, t);
  await writeFile(fifo, 'piped-token-1\n'); // opens as the writer: waits for keyway to read
  await until(() => /"msg":"listening"/.test(out.stdout), 'keyway listens');
  const port = (JSON.parse(out.stdout.split('\n').find((l) => l.includes('"msg":"listening"'))!) as { httpPort: number }).httpPort;
  assert.equal((await fetch(`http://127.0.0.1:${port}/v1/shardmap`)).status, 401);
  assert.equal((await fetch(`http://127.0.0.1:${port}/v1/shardmap`, { headers: { authorization: 'Bearer piped-token-1' } })).status, 200);
  child.kill('SIGTERM');
  assert.deepEqual(await exited, [0, null]);
});

/** Starts `keyway serve` with `tokenFile` as --admin-token-file, its output piped; SIGKILLed after the test if still running. */
function serveWithTokenFile(config: string, tokenFile: string, t: { after(fn: () => unknown): void }) {
  const child = spawn(process.execPath, [...CLI, 'serve', '--config', config, '--admin-token-file', tokenFile, ...SERVE_ON_LOOPBACK], { stdio: ['ignore', 'pipe', 'pipe'] });
  t.after(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  const exited = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
  const out = { stdout: '' };
  child.stdout.on('data', (d: Buffer) => (out.stdout += d.toString()));
  return { child, exited, out };
}

async function until(ok: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (!ok()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
