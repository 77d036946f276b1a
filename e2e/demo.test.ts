// `npm run demo -- --once` (scripts/demo.ts) end to end: keyway serve, the eight example cache
// nodes and a real Envoy come up, every request by key is served by its shard's primary, a wrong
// shard gets the node's 421, the URLs are printed, and nothing is left running afterwards.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { keyToShard } from '../src/sharding/index.js';
import { envoySkipReason } from './support/envoy.js';
import { portIsClosed } from './support/ports.js';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const skip = envoySkipReason();
/** The demo builds dist/ when it is missing (about 30 s here), so the bound leaves room for that. */
const BOUND_MS = 150_000;

async function runDemo(): Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }> {
  // Its own process group, so a timeout kills the demo and every child it started.
  const child = spawn(process.execPath, ['--import', 'tsx', 'scripts/demo.ts', '--once'], { cwd: REPO, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c: Buffer) => (stdout += c));
  child.stderr.on('data', (c: Buffer) => (stderr += c));
  const timer = setTimeout(() => process.kill(-child.pid!, 'SIGKILL'), BOUND_MS);
  const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) => child.once('exit', (c, s) => resolve([c, s])));
  clearTimeout(timer);
  return { code, signal, stdout, stderr };
}

test('npm run demo -- --once: every request by key reaches its shard primary through Envoy, the URLs are printed, nothing is left running', { skip, timeout: BOUND_MS + 10_000 }, async () => {
  const started = Date.now();
  const run = await runDemo();
  const seconds = (Date.now() - started) / 1000;
  const context = `\n--- stdout ---\n${run.stdout}\n--- stderr ---\n${run.stderr}`;
  assert.equal(run.signal, null, `the demo was killed after ${BOUND_MS / 1000} s${context}`);
  assert.equal(run.code, 0, `exit status${context}`);

  const lines = run.stdout.split('\n');
  const header = lines.findIndex((l) => /^\s+key\s+shard\s+owners \(primary first\)\s+served by\s+primary\?\s+tier$/.test(l));
  assert.ok(header >= 0, `the request table${context}`);
  const end = lines.findIndex((l, i) => i > header && !l.startsWith('  '));
  const rows = lines.slice(header + 1, end);
  assert.ok(rows.length >= 5, `a few requests${context}`);
  const shardCount = Number(/S=(\d+) shards/.exec(run.stdout)?.[1]);
  assert.equal(shardCount, 1024, 'the example topology as shipped');
  for (const row of rows) {
    const m = /^\s+(\S+)\s+(\d+)\s+(\S+), (\S+)\s+(\S+)\s+(\S+)\s+(l1|l2|l3)$/.exec(row);
    assert.ok(m, `a row: ${JSON.stringify(row)}`);
    const [, key, shard, primary, , servedBy, verdict] = m;
    assert.equal(Number(shard), keyToShard(key!, shardCount), `${key}: the shard sent is the key's`);
    assert.equal(servedBy, primary, `${key}: served by the primary`);
    assert.equal(verdict, 'yes');
  }
  assert.match(run.stdout, new RegExp(`All ${rows.length} requests were served by their shard's primary\\.`));
  assert.match(run.stdout, /sent with x-cache-shard \d+ -> HTTP 421 from gpu-\S+:\n\s+key "[^"]+" hashes to shard \d+ of 1024, but the request carried x-cache-shard \d+/);

  const url = (label: string): URL => {
    const m = new RegExp(`^\\s+${label.replace(/[()?]/g, '\\$&')}\\s+(http://\\S+)$`, 'm').exec(run.stdout);
    assert.ok(m, `the URL of ${label}${context}`);
    return new URL(m[1]!);
  };
  const web = url('web view');
  assert.equal(web.pathname, '/');
  assert.equal(url('shard map').pathname, '/v1/shardmap');
  assert.equal(url('keyway metrics').pathname, '/metrics');
  const admin = url('Envoy admin');
  assert.equal(url('cache node gpu-a1 metrics').pathname, '/metrics');

  // Nothing outlives --once: keyway, Envoy and the nodes are gone, and so is the temporary directory.
  for (const u of [web, admin, url('cache node gpu-a1 metrics')]) assert.ok(await portIsClosed(Number(u.port)), `${u.origin} is closed after the demo`);
  const logs = /^\s+logs\s+(\S+), /m.exec(run.stdout)?.[1];
  assert.ok(logs && !existsSync(path.dirname(logs)), `the temporary directory ${logs} is removed`);
  console.log(`# demo --once took ${seconds.toFixed(1)} s`);
});
