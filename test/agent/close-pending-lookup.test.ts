// close() ends a `dns:///` lookup still in flight: a custom resolveHost that never answers must not
// keep the process alive until the lookup's timeout (RESOLVE_TIMEOUT_MS, 10 s) after agent.close().
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { RESOLVE_TIMEOUT_MS } from '../../src/agent/replica-names.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

// Starts an agent whose only server is a name its resolver never answers, closes it once the lookup
// is under way, and then leaves the event loop to end the process.
const CHILD = `
import { OwnershipAgent } from ${JSON.stringify(path.join(ROOT, 'src/agent/index.ts'))};
let asked;
const lookedUp = new Promise((r) => (asked = r));
const agent = new OwnershipAgent({
  nodeId: 'a',
  servers: ['dns:///keyway.invalid:18000'],
  resolveHost: () => (asked(), new Promise(() => {})),
  timing: { loadWindowMs: 0 },
  log: () => {},
});
agent.start();
await lookedUp;
await agent.close();
process.stdout.write('closed\\n');
`;

test('after close(), a lookup a custom resolveHost never answers leaves no timer keeping the process alive', { timeout: 30_000 }, async () => {
  assert.equal(RESOLVE_TIMEOUT_MS, 10_000);
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', CHILD], { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  let closedAt = 0;
  child.stdout.setEncoding('utf8').on('data', (d: string) => {
    out += d;
    if (!closedAt && out.includes('closed')) closedAt = performance.now();
  });
  const killer = setTimeout(() => child.kill('SIGKILL'), 25_000);
  const [code] = (await once(child, 'exit')) as [number | null];
  clearTimeout(killer);
  assert.equal(code, 0, `the child ran to its end: ${out}`);
  assert.ok(closedAt > 0, 'the agent was closed');
  const lingered = performance.now() - closedAt;
  // The process ends as soon as close() returns; well under the 10 s lookup timeout.
  assert.ok(lingered < 3000, `the process lived ${Math.round(lingered)} ms after close()`);
});
