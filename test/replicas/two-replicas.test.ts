// Two keyway replicas in-process, fed the same topology independently (each its own file) and
// heard by the same ownership agents: they must serve the same routed map and version before,
// during and after a warm handoff (docs/ownership.md "Replicas agree").
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { OwnershipAgent, type Assignment } from '../../src/agent/index.js';
import type { ShardMapBody } from '../../src/admin/api-types.js';
import { eventually } from '../support/eventually.js';
import { startKeywayInProcess, type InProcessKeyway } from '../support/keyway-in-process.js';

const FAST = { backoffInitialMs: 20, backoffMaxMs: 200, reportRetryMs: 20 };
const FILE_WATCH = { debounce: { holdOffMs: 20, maxDelayMs: 100 }, pollIntervalMs: 50 };

function topology(nodes: readonly (readonly [string, number])[], opts: { flipIntervalMs?: number } = {}): string {
  const lines = ['shards: 64', 'replicas: 2', `handoff: {warmTimeoutMs: 60000, drainMs: 1500, agentWaitMs: 5000, flipIntervalMs: ${opts.flipIntervalMs ?? 1000}}`, 'endpoints:'];
  nodes.forEach(([id, w], i) => lines.push(`  - id: ${id}`, `    address: 10.0.0.${i + 1}`, '    port: 8080', `    weight: ${w}`));
  return `${lines.join('\n')}\n`;
}

function gatedAgent(t: TestContext, nodeId: string, servers: string[]) {
  let open = false;
  const waiting = new Set<() => void>();
  const agent = new OwnershipAgent({
    nodeId,
    servers,
    timing: FAST,
    warm: (_a: Assignment) =>
      new Promise<void>((resolve) => {
        if (open) resolve();
        else waiting.add(resolve);
      }),
  });
  agent.start();
  t.after(() => agent.close());
  return {
    agent,
    release(): void {
      open = true;
      for (const done of waiting) done();
      waiting.clear();
    },
  };
}

const get = async <T>(k: InProcessKeyway, p: string): Promise<T> => (await (await fetch(`http://127.0.0.1:${k.server.httpPort}${p}`)).json()) as T;
const routed = (m: ShardMapBody): string => JSON.stringify(m.shards.map((s) => s.owners));

async function twoReplicas(t: TestContext, text: string) {
  const a = await startKeywayInProcess(t, text, { fileWatch: FILE_WATCH });
  const b = await startKeywayInProcess(t, text, { fileWatch: FILE_WATCH });
  const servers = [a, b].map((k) => `127.0.0.1:${k.server.listening.xdsPort!}`);
  return { a, b, servers };
}

async function agentsUp(k: InProcessKeyway, n: number): Promise<void> {
  await eventually('agents connected', () => get<{ proxies: { flavor: string }[] }>(k, '/v1/proxies'), {
    accept: (body) => body.proxies.filter((p) => p.flavor === 'agent').length === n,
  });
}

test('scale-out seen 300 ms apart: both replicas hold the same shards, then flip to the same map', async (t) => {
  const base: [string, number][] = [['n0', 1], ['n1', 1], ['n2', 1], ['n3', 1]];
  const { a, b, servers } = await twoReplicas(t, topology(base));
  const nodes = [...base.map(([id]) => id), 'n4'].map((id) => gatedAgent(t, id, servers));
  await agentsUp(a, 5);
  await agentsUp(b, 5);
  const grown = topology([...base, ['n4', 1]]);
  await a.topo.write(grown);
  await sleep(300);
  await b.topo.write(grown);
  const [da, db] = await Promise.all(
    [a, b].map((k) => eventually('transitions', () => get<ShardMapBody>(k, '/v1/shardmap'), { accept: (m) => m.endpoints.length === 5 })),
  );
  assert.ok(da!.handoff.transitions.length > 0);
  assert.equal(da!.version, db!.version, 'same routed version while warming');
  assert.equal(routed(da!), routed(db!));
  nodes[4]!.release();
  const [fa, fb] = await Promise.all(
    [a, b].map((k) => eventually('flipped', () => get<ShardMapBody>(k, '/v1/shardmap'), { accept: (m) => m.handoff.transitions.length === 0 })),
  );
  assert.equal(fa!.version, fb!.version);
  assert.equal(fa!.version, fa!.handoff.targetVersion);
});
