// A warming node whose ownership stream closes (docs/ownership.md "Two-phase moves"): when it does
// not open one again by `agentWaitMs` after the move started, the move flips as `agent-lost`,
// without waiting for the warm-up deadline (`warmTimeoutMs`) or for some other change.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { OwnershipAgent } from '../../src/agent/index.js';
import type { ShardMapBody } from '../../src/admin/api-types.js';
import { eventually } from '../support/eventually.js';
import { startKeywayInProcess } from '../support/keyway-in-process.js';

const FAST = { backoffInitialMs: 20, backoffMaxMs: 200, reportRetryMs: 20 };
const FILE_WATCH = { debounce: { holdOffMs: 20, maxDelayMs: 100 }, pollIntervalMs: 50 };

function topology(ids: readonly string[]): string {
  const lines = ['shards: 64', 'replicas: 2', 'handoff: {warmTimeoutMs: 60000, drainMs: 1500, agentWaitMs: 300}', 'endpoints:'];
  ids.forEach((id, i) => lines.push(`  - id: ${id}`, `    address: 10.0.0.${i + 1}`, '    port: 8080'));
  return `${lines.join('\n')}\n`;
}

test('the warming node\'s stream closes: its moves flip as agent-lost once agentWaitMs from their start has passed', async (t) => {
  const ids = ['n0', 'n1', 'n2', 'n3'];
  const { server, topo } = await startKeywayInProcess(t, topology(ids), { fileWatch: FILE_WATCH });
  const url = `http://127.0.0.1:${server.httpPort}`;
  const get = async <T>(p: string): Promise<T> => (await (await fetch(url + p)).json()) as T;
  const xdsPort = server.listening.xdsPort!;
  // Warm-ups that never finish: only a deadline or a lost stream ends the moves.
  const agents = [...ids, 'n4'].map((nodeId) => {
    const agent = new OwnershipAgent({ nodeId, servers: [`127.0.0.1:${xdsPort}`], timing: FAST, warm: () => new Promise<void>(() => {}) });
    agent.start();
    t.after(() => agent.close());
    return agent;
  });
  await eventually('five agents', () => get<{ proxies: { flavor: string }[] }>('/v1/proxies'), {
    accept: (b) => b.proxies.filter((p) => p.flavor === 'agent').length === 5,
  });

  await topo.write(topology([...ids, 'n4']));
  const during = await eventually('moves to n4', () => get<ShardMapBody>('/v1/shardmap'), { accept: (m) => m.handoff.transitions.length > 0 });
  assert.ok(during.handoff.transitions.every((x) => x.warming === 'n4' && Date.parse(x.deadline) - Date.parse(x.startedAt) === 60_000));

  await agents.at(-1)!.close();
  const flipped = await eventually('the moves flipped', () => get<ShardMapBody>('/v1/shardmap'), {
    accept: (m) => m.handoff.transitions.length === 0,
    timeoutMs: 5000,
  });
  for (const x of during.handoff.transitions) assert.equal(flipped.shards[x.shard]!.owners[0], 'n4');
  const metrics = await (await fetch(`${url}/metrics`)).text();
  assert.match(metrics, new RegExp(`keyway_handoff_transitions_completed_total\\{outcome="agent-lost"\\} ${during.handoff.transitions.length}\\b`));
});
