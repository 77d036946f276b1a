// A replica restarted while a move warms routes its first map as computed (docs/ownership.md
// "Replicas agree"); the agent, taking its assignments from it, reads the shard there. That is no
// warm-up: the other replica must keep waiting for the node's report (or its deadline), not flip
// every move at once, cold, on a report of the shards the node merely reads.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { OwnershipAgent } from '../../src/agent/index.js';
import type { ShardMapBody } from '../../src/admin/api-types.js';
import { startServer } from '../../src/app/index.js';
import { serveStages } from '../../src/app/wiring.js';
import { createKeywayMetrics } from '../../src/telemetry/index.js';
import { eventually } from '../support/eventually.js';
import { startKeywayInProcess, type InProcessKeyway } from '../support/keyway-in-process.js';

const FAST = { backoffInitialMs: 20, backoffMaxMs: 200, reportRetryMs: 20 };
const FILE_WATCH = { debounce: { holdOffMs: 20, maxDelayMs: 100 }, pollIntervalMs: 50 };

function topology(ids: readonly string[]): string {
  const lines = ['shards: 64', 'replicas: 2', 'handoff: {warmTimeoutMs: 60000, drainMs: 1500, agentWaitMs: 5000}', 'endpoints:'];
  ids.forEach((id, i) => lines.push(`  - id: ${id}`, `    address: 10.0.0.${i + 1}`, '    port: 8080'));
  return `${lines.join('\n')}\n`;
}

/** An agent whose warm-ups never finish. */
function coldAgent(t: TestContext, nodeId: string, servers: string[]): OwnershipAgent {
  const agent = new OwnershipAgent({ nodeId, servers, timing: FAST, warm: () => new Promise<void>(() => {}) });
  agent.start();
  t.after(() => agent.close());
  return agent;
}

const get = async <T>(url: string, p: string): Promise<T> => (await (await fetch(url + p)).json()) as T;

test(
  'a replica restarted while a move warms: the other replica keeps waiting for the warm-up',
  async (t) => {
    const ids = ['n0', 'n1', 'n2', 'n3'];
    const a = await startKeywayInProcess(t, topology(ids), { fileWatch: FILE_WATCH });
    const b: InProcessKeyway = await startKeywayInProcess(t, topology(ids), { fileWatch: FILE_WATCH });
    const aUrl = `http://127.0.0.1:${a.server.httpPort}`;
    const bPort = b.server.listening.xdsPort!;
    // The agents take their assignments from b, the replica that restarts.
    const servers = [`127.0.0.1:${bPort}`, `127.0.0.1:${a.server.listening.xdsPort!}`];
    [...ids, 'n4'].forEach((id) => coldAgent(t, id, servers));
    for (const url of [aUrl, `http://127.0.0.1:${b.server.httpPort}`]) {
      await eventually('agents', () => get<{ proxies: { flavor: string }[] }>(url, '/v1/proxies'), {
        accept: (body) => body.proxies.filter((p) => p.flavor === 'agent').length === 5,
      });
    }
    await a.topo.write(topology([...ids, 'n4']));
    await b.topo.write(topology([...ids, 'n4']));
    const during = await eventually('a holds moves to n4', () => get<ShardMapBody>(aUrl, '/v1/shardmap'), {
      accept: (m) => m.handoff.transitions.length > 0,
    });
    await b.server.close();
    const metrics = createKeywayMetrics();
    const b2 = await startServer({ configFile: b.topo.file, httpPort: 0, xdsPort: bPort, host: '127.0.0.1', stages: serveStages({ metrics }) });
    t.after(async () => {
      await b2.close();
      await metrics.shutdown();
    });
    await eventually('restarted replica serves', () => get<ShardMapBody>(`http://127.0.0.1:${b2.httpPort}`, '/v1/shardmap'), { accept: (m) => m.endpoints.length === 5 });
    await sleep(1500);
    const after = await get<ShardMapBody>(aUrl, '/v1/shardmap');
    assert.equal(after.handoff.transitions.length, during.handoff.transitions.length, 'no move flipped: n4 never finished a warm-up');
  },
);
