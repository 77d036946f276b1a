// The agent reconnect grace (docs/ownership.md "Two-phase moves", AGENT_RECONNECT_GRACE_MS): a
// warming node whose last stream closes and opens again within the grace keeps its moves warming,
// even when some other handoff step is planned during the gap (a reload, another node's warm
// report, a load window). The planner reads the nodes with a stream open at every step, so a node
// in its grace must count as one of them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { OwnershipAgent } from '../../src/agent/index.js';
import type { ShardMapBody } from '../../src/admin/api-types.js';
import { eventually } from '../support/eventually.js';
import { startKeywayInProcess } from '../support/keyway-in-process.js';

const FAST = { backoffInitialMs: 20, backoffMaxMs: 200, reportRetryMs: 20 };
const FILE_WATCH = { debounce: { holdOffMs: 20, maxDelayMs: 100 }, pollIntervalMs: 50 };

function topology(ids: readonly string[], drainMs = 1500): string {
  const lines = ['shards: 64', 'replicas: 2', `handoff: {warmTimeoutMs: 60000, drainMs: ${drainMs}, agentWaitMs: 300}`, 'endpoints:'];
  ids.forEach((id, i) => lines.push(`  - id: ${id}`, `    address: 10.0.0.${i + 1}`, '    port: 8080'));
  return `${lines.join('\n')}\n`;
}

test('a step planned while the warming node reconnects within the grace keeps its moves warming', async (t) => {
  const ids = ['n0', 'n1', 'n2', 'n3', 'n4'];
  const { server, topo } = await startKeywayInProcess(t, topology(ids.slice(0, 4)), { fileWatch: FILE_WATCH });
  const url = `http://127.0.0.1:${server.httpPort}`;
  const get = async <T>(p: string): Promise<T> => (await (await fetch(url + p)).json()) as T;
  const xdsPort = server.listening.xdsPort!;
  const start = (nodeId: string): OwnershipAgent => {
    const agent = new OwnershipAgent({ nodeId, servers: [`127.0.0.1:${xdsPort}`], timing: FAST, warm: () => new Promise<void>(() => {}) });
    agent.start();
    t.after(() => agent.close());
    return agent;
  };
  const agents = ids.map(start);
  await eventually('five agents', () => get<{ proxies: { flavor: string }[] }>('/v1/proxies'), {
    accept: (b) => b.proxies.filter((p) => p.flavor === 'agent').length === 5,
  });
  await topo.write(topology(ids));
  const during = await eventually('moves to n4', () => get<ShardMapBody>('/v1/shardmap'), { accept: (m) => m.handoff.transitions.length > 0 });
  // Past agentWaitMs (300 ms) from the moves' start: a step that took n4 for gone would flip them.
  await new Promise((r) => setTimeout(r, 500));

  await agents.at(-1)!.close();
  // Another step during the gap: a reload that changes only `handoff.drainMs` re-plans the map in force.
  const before = server.state.current()!.sequence;
  await topo.write(topology(ids, 1600));
  await eventually('the reload planned', () => server.state.current(), {
    accept: (v) => v!.sequence > before && v!.cause?.source === 'file',
    timeoutMs: 1500,
  });
  assert.deepEqual(
    server.state.current()!.handoff!.transitions.map((x) => x.shard).sort((a, b) => a - b),
    during.handoff.transitions.map((x) => x.shard).sort((a, b) => a - b),
    'the moves still warm on n4 after a step planned within the grace',
  );
  start('n4');
  await eventually('n4 connected again', () => get<{ proxies: { flavor: string; id: string }[] }>('/v1/proxies'), {
    accept: (b) => b.proxies.some((p) => p.flavor === 'agent' && p.id === 'n4'),
  });
  // Past the grace (2 s) from the close.
  await new Promise((r) => setTimeout(r, 2200));
  const after = await get<ShardMapBody>('/v1/shardmap');
  assert.deepEqual(
    after.handoff.transitions.map((x) => x.shard).sort((a, b) => a - b),
    during.handoff.transitions.map((x) => x.shard).sort((a, b) => a - b),
    'the moves still warm on n4',
  );
});
