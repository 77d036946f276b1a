/**
 * The example node's CLI says which of the flags it was given have no effect with the others
 * (one `warn` line each before `listening`), rather than dropping them in silence.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/** Starts main.ts with `args`; resolves with the log lines up to and including `listening`, then stops it. */
async function linesUntilListening(args: readonly string[]): Promise<Array<Record<string, unknown>>> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'examples/cache-node/main.ts', '--host', '127.0.0.1', '--port', '0', ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  try {
    return await new Promise((resolve, reject) => {
      let out = '';
      let err = '';
      const timer = setTimeout(() => reject(new Error(`no listening line within 30 s; stdout ${out} stderr ${err}`)), 30_000);
      child.stderr.on('data', (c: Buffer) => (err += c.toString()));
      child.stdout.on('data', (c: Buffer) => {
        out += c.toString();
        const lines = out.split('\n').filter((l) => l.trim() !== '').map((l) => JSON.parse(l) as Record<string, unknown>);
        if (lines.some((l) => l.msg === 'listening')) {
          clearTimeout(timer);
          resolve(lines);
        }
      });
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`exited ${code}: ${err}`));
      });
    });
  } finally {
    child.kill('SIGTERM');
    await exited;
  }
}

test('flags that the others make moot are each named in a warn line', async () => {
  const lines = await linesUntilListening(['--id', 'n0', '--poll-ms', '50', '--shard-metrics-limit', '5', '--miss-cost', '3', '--load-window-ms', '0']);
  const warned = lines.filter((l) => l.level === 'warn').map((l) => String(l.msg));
  assert.deepEqual(warned, [
    '--poll-ms applies only to --keyway-url without --keyway-xds (REST polling); ignored',
    '--load-window-ms applies only with --keyway-xds (load reports go to keyway over the ownership stream); ignored',
    '--shard-metrics-limit applies only with --shard-metrics; ignored',
    '--miss-cost applies only with --serve-rps or --load-work; ignored',
  ]);
});

test('flags that take effect give no warning', async () => {
  const lines = await linesUntilListening(['--id', 'n1', '--keyway-url', 'http://127.0.0.1:1', '--poll-ms', '50', '--shard-metrics', '--shard-metrics-limit', '60', '--serve-rps', '1000', '--miss-cost', '3']);
  assert.deepEqual(lines.filter((l) => l.level === 'warn'), []);
});
