// One node's assignments within keyway's work budget can exceed gRPC's default 4 MiB message.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { OwnershipAgent } from '../../src/agent/index.js';
import { eventually } from '../support/eventually.js';
import { startKeywayInProcess } from '../support/keyway-in-process.js';

test('against keyway serve: S = 65536, R = 2 on two nodes (5.9 MB of assignments per node) reaches the agent', async (t) => {
  const lines = ['shards: 65536', 'replicas: 2', 'service: keyway-cache', 'endpoints:'];
  for (const i of [0, 1]) lines.push(`  - id: gpu-${i}`, `    address: 10.0.0.${i + 1}`, '    port: 8080', `    locality: {region: r, zone: z${i}, subzone: nvl-${i}}`);
  const { server } = await startKeywayInProcess(t, `${lines.join('\n')}\n`);
  const logs: Record<string, unknown>[] = [];
  const agent = new OwnershipAgent({ nodeId: 'gpu-1', servers: [`127.0.0.1:${server.listening.xdsPort}`], log: (r) => logs.push(r), timing: { backoffInitialMs: 50, backoffMaxMs: 500 } });
  t.after(() => agent.close());
  agent.start();
  await eventually('every shard arrives', () => agent.assignments().size, { accept: (n) => n === 65536, timeoutMs: 20_000, describe: () => logs.slice(0, 2) });
  assert.equal(agent.shardCount(), 65536);
  assert.deepEqual(logs.filter((l) => l.msg === 'ownership stream ended; reconnecting'), []);
});
