/**
 * V8's young generation while `keyway serve` starts (src/app/young-generation.ts): held at its
 * initial size while the modules load, free to grow once the server is up. Each case runs in a
 * child process, since the setting is the process's.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { serveCommand } from '../../src/app/serve-command.js';
import { holdYoungGeneration, youngGenerationHeld } from '../../src/app/young-generation.js';
import { CLI } from '../cli/support.js';
import { tempTopology } from './support.js';

const MODULE = new URL('../../src/app/young-generation.ts', import.meta.url).href;

const TWO_NODES = 'shards: 1024\nreplicas: 1\nservice: s\nendpoints:\n  - {id: a, address: 127.0.0.1, port: 7001}\n  - {id: b, address: 127.0.0.1, port: 7002}\n';

/**
 * A child that holds (started with `nodeOptions` as its NODE_OPTIONS), churns objects that survive a few
 * scavenges each as module loading's do, releases and churns again; it prints the young
 * generation's size (bytes) at each point.
 */
const CHURN = `
import { getHeapSpaceStatistics } from 'node:v8';
import { holdYoungGeneration, releaseYoungGeneration } from ${JSON.stringify(MODULE)};
const newSpace = () => getHeapSpaceStatistics().find((s) => s.space_name === 'new_space').space_size;
const churn = () => { let keep = []; for (let i = 0; i < 3e6; i++) { keep.push({ i }); if (keep.length > 100000) keep = []; } };
holdYoungGeneration();
const start = newSpace(); churn(); const held = newSpace();
releaseYoungGeneration(); churn(); const released = newSpace();
console.log(JSON.stringify({ start, held, released }));
`;

async function churnSizes(nodeOptions: string): Promise<{ start: number; held: number; released: number }> {
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', CHURN], {
    env: { ...process.env, NODE_OPTIONS: nodeOptions },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  const [code] = (await once(child, 'exit')) as [number | null];
  assert.equal(code, 0, out);
  return JSON.parse(out) as { start: number; held: number; released: number };
}

test('held, the young generation keeps its size under churn; released, it grows again as V8 grows it', async () => {
  const { start, held, released } = await churnSizes('');
  assert.equal(held, start);
  assert.ok(released >= 4 * held, `released: ${released} bytes, held: ${held}`);
});

test('a semi-space flag the operator set is left alone', async () => {
  const { start, held } = await churnSizes('--max-semi-space-size=16');
  assert.ok(held > start, `held: ${held} bytes, start: ${start}`);
});

test('keyway serve idles with the young generation it started with, not 2 x 16 MiB', async (t) => {
  const topo = await tempTopology(TWO_NODES);
  t.after(() => topo.cleanup());
  const args = ['serve', '--config', topo.file, '--http-port', '0', '--xds-port', '0', '--ext-proc-port', 'off', '--host', '127.0.0.1', '--admin-host', '127.0.0.1'];
  const child = spawn(process.execPath, [...CLI, ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
  const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
  t.after(() => {
    clearTimeout(timer);
    child.kill('SIGKILL');
  });
  let httpPort: number | undefined;
  for await (const line of createInterface({ input: child.stdout })) {
    const record = JSON.parse(line) as { msg?: string; httpPort?: number };
    if (record.msg === 'listening') {
      httpPort = record.httpPort;
      break;
    }
  }
  assert.ok(httpPort !== undefined, 'keyway serve did not log its listening line');
  const metrics = await (await fetch(`http://127.0.0.1:${httpPort}/metrics`)).text();
  const m = /^v8js_memory_heap_space_size\{v8js_heap_space_name="new_space"\} (\d+)$/m.exec(metrics);
  assert.ok(m, 'no new_space size in /metrics');
  // Unheld, loading the modules grows it to its 32 MiB maximum; held, it stays at its first 1 to 2 MiB.
  assert.ok(Number(m[1]) <= 4 * 1024 * 1024, `new_space: ${m[1]} bytes`);
});

test('keyway serve releases the hold once it is up, so traffic can grow the young generation', async (t) => {
  const topo = await tempTopology(TWO_NODES);
  t.after(() => topo.cleanup());
  holdYoungGeneration([], '');
  assert.equal(youngGenerationHeld(), true);
  const serving = serveCommand({ config: topo.file, httpPort: 0, xdsPort: 0, host: '127.0.0.1', adminHost: '127.0.0.1', logLevel: 'silent' });
  const deadline = Date.now() + 30_000;
  while (youngGenerationHeld() && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
  const held = youngGenerationHeld();
  process.kill(process.pid, 'SIGTERM'); // serveCommand's own handler: a graceful stop
  assert.equal(await serving, 0);
  assert.equal(held, false, 'still held 30 s after the start');
});
