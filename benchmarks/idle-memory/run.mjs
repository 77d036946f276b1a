// Idle RSS of `keyway serve`, two builds side by side (docs/benchmarks.md "Idle memory"):
//   node benchmarks/idle-memory/run.mjs --before DIR --after DIR [--starts 5] [--idle-s 40] [--config FILE]
// DIR is a checkout with a built dist/ (bin/keyway.js). Each round starts both builds, in
// alternating order, side by side; VmRSS is read 1 s after the `listening` line and again after
// --idle-s seconds idle with /metrics scraped every 5 s (with the old space in use at the last
// scrape, from /metrics). Prints every reading, then median and range.
// Ports are picked by the OS; everything binds 127.0.0.1. Not part of keyway.
import console from 'node:console';
import process from 'node:process';
import { setTimeout } from 'node:timers';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { resolve } from 'node:path';

const { values } = parseArgs({ options: { before: { type: 'string' }, after: { type: 'string' }, starts: { type: 'string', default: '5' }, 'idle-s': { type: 'string', default: '40' }, config: { type: 'string', default: 'examples/topology.yaml' } } });
if (!values.before || !values.after) throw new Error('--before DIR and --after DIR are required');
const starts = Number(values.starts);
const idleMs = Number(values['idle-s']) * 1000;
const config = resolve(values.config);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const rssMb = (pid) => Number(readFileSync(`/proc/${pid}/status`, 'utf8').match(/VmRSS:\s+(\d+)/)[1]) / 1024;

async function one(dir) {
  const child = spawn(process.execPath, [`${dir}/bin/keyway.js`, 'serve', '--config', config, '--http-port', '0', '--xds-port', '0', '--ext-proc-port', 'off', '--host', '127.0.0.1', '--admin-host', '127.0.0.1'], { cwd: dir, stdio: ['ignore', 'pipe', 'inherit'] });
  const lines = createInterface({ input: child.stdout });
  const port = await new Promise((res, rej) => {
    child.once('exit', (c) => rej(new Error(`${dir}: exited ${c} before listening`)));
    lines.on('line', (l) => { let r;
      try { r = JSON.parse(l); } catch { return; } // not a log line
      if (r.msg === 'listening') res(r.httpPort); });
  });
  await sleep(1000);
  const start = rssMb(child.pid);
  let metrics = '';
  for (let t = 0; t < idleMs; t += 5000) {
    await sleep(5000);
    metrics = await (await globalThis.fetch(`http://127.0.0.1:${port}/metrics`)).text();
  }
  const idle = rssMb(child.pid);
  // V8's old space in use at the last scrape (live objects and garbage not yet collected), MB.
  const old = Number(metrics.match(/^v8js_memory_heap_used\{v8js_heap_space_name="old_space"\} (\S+)/m)?.[1] ?? NaN) / 2 ** 20;
  child.kill('SIGTERM');
  await new Promise((r) => child.once('exit', r));
  return { start, idle, old };
}

const runs = { before: [], after: [] };
for (let i = 0; i < starts; i++) {
  const order = i % 2 === 0 ? ['before', 'after'] : ['after', 'before'];
  const got = await Promise.all(order.map(async (k, j) => { await sleep(j * 300); return [k, await one(values[k])]; }));
  for (const [k, r] of got) { runs[k].push(r); console.log(`round ${i + 1} ${k}: ${r.start.toFixed(1)} MB at start, ${r.idle.toFixed(1)} MB idle, old space used ${r.old.toFixed(1)} MB`); }
}
const med = (xs) => { const s = [...xs].sort((a, b) => a - b); const m = s.length >> 1; return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2; };
for (const k of ['before', 'after']) for (const f of ['start', 'idle', 'old']) {
  const xs = runs[k].map((r) => r[f]);
  console.log(`${k} ${f}: median ${med(xs).toFixed(1)} MB (${Math.min(...xs).toFixed(1)} to ${Math.max(...xs).toFixed(1)}), n = ${xs.length}`);
}
