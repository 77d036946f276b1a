// `dns:///localhost:PORT` through the OS resolver (getaddrinfo, /etc/hosts) against keyway's xDS
// server: from the agent library, and from the example cache node's `--keyway-xds` flag.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { OwnershipAgent } from '../../src/agent/index.js';
import { ServingState } from '../../src/app/serving-state.js';
import { startXdsStage } from '../../src/app/xds-stage.js';
import { eventually } from '../support/eventually.js';
import { endpoint, handInput } from '../xds/translator/fixtures.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const base = handInput([endpoint('a', '10.0.0.1'), endpoint('b', '10.0.0.2')], [['a', 'b'], ['b', 'a'], ['a', 'b'], ['b', 'a']]);

async function keyway(t: import('node:test').TestContext): Promise<number> {
  const state = new ServingState();
  state.publish({ map: base.shardMap, topology: base.topology });
  const s = await startXdsStage({ state, logger: pino({ level: 'silent' }), xdsPort: 0, host: '127.0.0.1' });
  t.after(() => s.close());
  return s.server.port;
}

test('dns:///localhost:PORT resolves through the OS resolver and the agent gets its assignments', async (t) => {
  const port = await keyway(t);
  const logs: Record<string, unknown>[] = [];
  const agent = new OwnershipAgent({ nodeId: 'a', servers: [`dns:///localhost:${port}`], timing: { backoffInitialMs: 20, backoffMaxMs: 200 }, log: (r) => logs.push(r) });
  t.after(() => agent.close());
  agent.start();
  await eventually('assignments', () => agent.assignments().size, { accept: (n) => n === 4 });
  assert.ok(agent.connected());
  const added = logs.find((l) => l.msg === 'keyway replicas changed')?.added as string[];
  assert.ok(added.includes(`127.0.0.1:${port}`), `links: ${added.join()}`);
});

test('the example cache node takes --keyway-xds dns:///localhost:PORT and learns its ownership', async (t) => {
  const port = await keyway(t);
  const child = spawn(process.execPath, ['--import', 'tsx', 'examples/cache-node/main.ts', '--id', 'b', '--host', '127.0.0.1', '--port', '0', '--zone', 'z', '--keyway-xds', `dns:///localhost:${port}`], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = once(child, 'exit');
  t.after(async () => {
    child.kill('SIGTERM');
    await exited;
  });
  let out = '';
  let err = '';
  child.stdout.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr.on('data', (c: Buffer) => (err += c.toString()));
  const owned = await eventually(
    'an ownership line',
    () => out.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l.msg === 'ownership changed' && Number(l.primary) > 0),
    { timeoutMs: 30_000, describe: () => ({ out, err }) },
  );
  assert.deepEqual([owned.primary, owned.replica], [2, 2]);

  const bad = spawn(process.execPath, ['--import', 'tsx', 'examples/cache-node/main.ts', '--id', 'n', '--keyway-xds', 'dns://8.8.8.8/keyway:18000'], { cwd: ROOT });
  let badErr = '';
  bad.stderr.on('data', (c: Buffer) => (badErr += c.toString()));
  const [code] = (await once(bad, 'exit')) as [number];
  assert.equal(code, 2);
  assert.match(badErr, /--keyway-xds must be host:port with a port in 1\.\.65535, got "dns:\/\/8\.8\.8\.8\/keyway:18000" \(or dns:\/\/\/host:port/);
});
