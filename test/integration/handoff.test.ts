// Warm handoff through `keyway serve` in-process (docs/ownership.md "Two-phase moves"): real
// ownership agents on the xDS port, the runner's planner, warm reports, deadlines, drains, and the
// REST view of it. Real Envoy routing is checked in e2e/handoff.test.ts.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { OwnershipAgent, type Assignment } from '../../src/agent/index.js';
import type { NodeHandoffBody, ShardMapBody } from '../../src/admin/api-types.js';
import { eventually } from '../support/eventually.js';
import { startKeywayInProcess } from '../support/keyway-in-process.js';

const FAST = { backoffInitialMs: 20, backoffMaxMs: 200, reportRetryMs: 20 };
const FILE_WATCH = { debounce: { holdOffMs: 20, maxDelayMs: 100 }, pollIntervalMs: 50 };

function topology(ids: readonly string[], opts: { warmTimeoutMs?: number; draining?: string; enabled?: boolean; agentWaitMs?: number } = {}): string {
  const lines = [
    'shards: 64',
    'replicas: 2',
    `handoff: {enabled: ${opts.enabled ?? true}, warmTimeoutMs: ${opts.warmTimeoutMs ?? 60_000}, drainMs: 1500, agentWaitMs: ${opts.agentWaitMs ?? 5000}}`,
    'endpoints:',
  ];
  ids.forEach((id, i) => {
    lines.push(`  - id: ${id}`, `    address: 10.0.0.${i + 1}`, '    port: 8080', ...(opts.draining === id ? ['    draining: true'] : []));
  });
  return `${lines.join('\n')}\n`;
}

/** An agent whose warm-up waits until the test releases it. */
function gatedAgent(t: TestContext, nodeId: string, xdsPort: number) {
  let open = false;
  const waiting = new Set<() => void>();
  const warmed: number[] = [];
  const agent = new OwnershipAgent({
    nodeId,
    servers: [`127.0.0.1:${xdsPort}`],
    timing: FAST,
    warm: (a: Assignment) =>
      new Promise<void>((resolve) => {
        const done = (): void => {
          warmed.push(a.shard);
          resolve();
        };
        if (open) done();
        else waiting.add(done);
      }),
  });
  agent.start();
  t.after(() => agent.close());
  return {
    agent,
    warmed,
    release(): void {
      open = true;
      for (const done of waiting) done();
      waiting.clear();
    },
  };
}

test('scale-out with agents: new primaries warm while the routed map keeps the old owners, then flip on their warm reports', async (t) => {
  const ids = ['n0', 'n1', 'n2', 'n3'];
  const { server, topo } = await startKeywayInProcess(t, topology(ids), { fileWatch: FILE_WATCH });
  const url = `http://127.0.0.1:${server.httpPort}`;
  const get = async <T>(p: string): Promise<T> => (await (await fetch(url + p)).json()) as T;
  const xdsPort = server.listening.xdsPort!;
  const nodes = [...ids, 'n4'].map((id) => gatedAgent(t, id, xdsPort));
  await eventually('five agents connected', () => get<{ proxies: { flavor: string }[] }>('/v1/proxies'), {
    accept: (b) => b.proxies.filter((p) => p.flavor === 'agent').length === 5,
  });
  const before = await get<ShardMapBody>('/v1/shardmap');

  await topo.write(topology([...ids, 'n4']));
  const during = await eventually('transitions to n4', () => get<ShardMapBody>('/v1/shardmap'), {
    accept: (m) => m.handoff.transitions.length > 0,
  });
  const moving = during.handoff.transitions.map((x) => x.shard);
  assert.ok(during.handoff.transitions.every((x) => x.warming === 'n4' && x.to[0] === 'n4'));
  for (const shard of moving) assert.deepEqual(during.shards[shard]!.owners, before.shards[shard]!.owners, `shard ${shard} still routed as before`);
  assert.ok(during.shards.every((s) => s.owners[0] !== 'n4'), 'n4 leads nothing before it is warm');
  // n4 receives WARMING for exactly those shards, with the owners to warm from.
  const n4 = nodes[4]!;
  await eventually('n4 WARMING assignments', () => [...n4.agent.assignments().values()].filter((a) => a.phase === 'warming').map((a) => a.shard).sort((a, b) => a - b), {
    accept: (w) => w.join() === [...moving].sort((a, b) => a - b).join(),
  });
  const sample = n4.agent.assignments().get(moving[0]!)!;
  assert.deepEqual(sample.servingOwners.map((p) => p.id), before.shards[moving[0]!]!.owners);
  assert.equal(sample.role, 'primary');
  const progress = await get<NodeHandoffBody>('/v1/handoff?node=n4');
  assert.equal(progress.warming, moving.length);

  n4.release();
  const flipped = await eventually('every move flipped', () => get<ShardMapBody>('/v1/shardmap'), {
    accept: (m) => m.handoff.transitions.length === 0,
  });
  assert.equal(flipped.version, flipped.handoff.targetVersion);
  for (const shard of moving) assert.equal(flipped.shards[shard]!.owners[0], 'n4');
  assert.deepEqual(new Set(n4.warmed), new Set(moving));
  // The previous primaries drain what they lost, then the drains end (drainMs 1500).
  assert.deepEqual(
    flipped.handoff.drains.map((d) => [d.shard, d.node]),
    moving.map((s) => [s, before.shards[s]!.owners[0]]).filter(([s, node]) => !flipped.shards[s as number]!.owners.includes(node as string)),
  );
  await eventually('drains ended', () => get<ShardMapBody>('/v1/shardmap'), { accept: (m) => m.handoff.drains.length === 0 });
  const metrics = await (await fetch(`${url}/metrics`)).text();
  assert.match(metrics, new RegExp(`keyway_handoff_transitions_started_total ${moving.length}\\b`));
  assert.match(metrics, new RegExp(`keyway_handoff_transitions_completed_total\\{outcome="warm"\\} ${moving.length}\\b`));
});

test('a node that turns ready before its agent connects: its moves wait for the stream, then warm (longer than the wait) and flip', async (t) => {
  const ids = ['n0', 'n1', 'n2', 'n3'];
  const agentWaitMs = 2000;
  const { server, topo } = await startKeywayInProcess(t, topology(ids, { agentWaitMs }), { fileWatch: FILE_WATCH });
  const url = `http://127.0.0.1:${server.httpPort}`;
  const get = async <T>(p: string): Promise<T> => (await (await fetch(url + p)).json()) as T;
  const xdsPort = server.listening.xdsPort!;
  ids.forEach((id) => gatedAgent(t, id, xdsPort));
  await eventually('four agents', () => get<{ proxies: { flavor: string }[] }>('/v1/proxies'), {
    accept: (b) => b.proxies.filter((p) => p.flavor === 'agent').length === 4,
  });
  const before = await get<ShardMapBody>('/v1/shardmap');

  // n4 is in the map (ready) and has no ownership stream yet: its shards stay where they were.
  await topo.write(topology([...ids, 'n4'], { agentWaitMs }));
  const waiting = await eventually('moves to n4 waiting', () => get<ShardMapBody>('/v1/shardmap'), { accept: (m) => m.endpoints.length === 5 });
  const moving = waiting.handoff.transitions.map((x) => x.shard);
  assert.ok(moving.length > 0, 'n4 gains shards');
  assert.ok(waiting.handoff.transitions.every((x) => x.warming === 'n4' && Date.parse(x.deadline) - Date.parse(x.startedAt) === agentWaitMs));
  assert.ok(waiting.shards.every((s) => s.owners[0] !== 'n4'), 'n4 leads nothing before its agent connects and warms');
  for (const shard of moving) assert.deepEqual(waiting.shards[shard]!.owners, before.shards[shard]!.owners);

  // Its agent connects: it gets the shards as WARMING, warms them, and the route flips on its report.
  const n4 = gatedAgent(t, 'n4', xdsPort);
  await eventually('n4 told to warm', () => [...n4.agent.assignments().values()].filter((a) => a.phase === 'warming').map((a) => a.shard).sort((a, b) => a - b), {
    accept: (w) => w.join() === [...moving].sort((a, b) => a - b).join(),
  });
  // Its stream opening re-plans at once: the deadlines grow to warmTimeoutMs before the wait ends,
  // and the agent's warm-ups run to them.
  const deadlines = new Map(waiting.handoff.transitions.map((x) => [x.shard, Date.parse(x.startedAt) + 60_000]));
  await eventually('n4 holds the warm-up deadlines', () => [...n4.agent.assignments().values()].filter((a) => a.phase === 'warming'), {
    accept: (w) => w.length === moving.length && w.every((a) => a.untilUnixMs === deadlines.get(a.shard)),
  });
  const waitEnds = Math.min(...waiting.handoff.transitions.map((x) => Date.parse(x.deadline)));
  assert.ok(Date.now() < waitEnds, 'extended when the stream opened, not at the end of the wait');
  // The warm-ups outlast the wait: neither keyway nor the agent cuts them at its end.
  await sleep(waitEnds + 300 - Date.now());
  assert.equal((await get<ShardMapBody>('/v1/shardmap')).handoff.transitions.length, moving.length, 'still waiting for the warm-ups');
  n4.release();
  const flipped = await eventually('routes flipped to n4', () => get<ShardMapBody>('/v1/shardmap'), { accept: (m) => m.handoff.transitions.length === 0 });
  for (const shard of moving) assert.equal(flipped.shards[shard]!.owners[0], 'n4');
  const metrics = await (await fetch(`${url}/metrics`)).text();
  assert.match(metrics, new RegExp(`keyway_handoff_transitions_completed_total\\{outcome="warm"\\} ${moving.length}\\b`));
  assert.match(metrics, /keyway_handoff_transitions_completed_total\{outcome="agent-lost"\} 0\b/);
});

test('a draining node hands off before it goes; with agentWaitMs 0 a node without an agent and a failed node move at once', async (t) => {
  const ids = ['n0', 'n1', 'n2', 'n3'];
  const { server, topo } = await startKeywayInProcess(t, topology(ids, { agentWaitMs: 0 }), { fileWatch: FILE_WATCH });
  const url = `http://127.0.0.1:${server.httpPort}`;
  const get = async <T>(p: string): Promise<T> => (await (await fetch(url + p)).json()) as T;
  const xdsPort = server.listening.xdsPort!;
  // n3 runs no agent: moves to it cannot wait for a warm report.
  const agents = ['n0', 'n1', 'n2'].map((id) => gatedAgent(t, id, xdsPort));
  await eventually('three agents', () => get<{ proxies: { flavor: string }[] }>('/v1/proxies'), {
    accept: (b) => b.proxies.filter((p) => p.flavor === 'agent').length === 3,
  });
  const before = await get<ShardMapBody>('/v1/shardmap');
  const led = (m: ShardMapBody, id: string) => m.shards.filter((s) => s.owners[0] === id).map((s) => s.shard);

  // n0 drains: its shards that go to agents wait; those that go to n3 flip at once.
  await topo.write(topology(ids, { draining: 'n0', agentWaitMs: 0 }));
  const during = await eventually('n0 handing off', () => get<ShardMapBody>('/v1/shardmap'), {
    accept: (m) => m.endpoints.some((e) => e.id === 'n0' && e.draining),
  });
  const waiting = during.handoff.transitions.map((x) => x.shard).sort((a, b) => a - b);
  assert.ok(waiting.length > 0);
  assert.ok(during.handoff.transitions.every((x) => x.from[0] === 'n0' && x.warming !== 'n3'));
  const toN3 = led(before, 'n0').filter((s) => !waiting.includes(s));
  assert.ok(toN3.every((s) => during.shards[s]!.owners[0] === 'n3'), 'moves to the agent-less n3 flipped at once');
  assert.deepEqual(led(during, 'n0').sort((a, b) => a - b), waiting, 'n0 still leads exactly the shards waiting for a warm node');
  const n0 = await get<NodeHandoffBody>('/v1/handoff?node=n0');
  assert.deepEqual([n0.draining, n0.handingOff, n0.handedOff], [true, waiting.length, false]);

  for (const a of agents) a.release();
  await eventually('n0 handed off', () => get<NodeHandoffBody>('/v1/handoff?node=n0'), { accept: (b) => b.handedOff });

  // n1 fails (removed without draining): its shards move at once, no transition waits on it.
  await topo.write(topology(['n0', 'n2', 'n3'], { draining: 'n0', agentWaitMs: 0 }));
  const after = await eventually('n1 gone', () => get<ShardMapBody>('/v1/shardmap'), { accept: (m) => !m.endpoints.some((e) => e.id === 'n1') });
  assert.ok(after.shards.every((s) => !s.owners.includes('n1')), 'nothing routed to the failed node');
  assert.ok(after.handoff.transitions.every((x) => x.from[0] !== 'n1'));
});

test('handoff disabled: moves flip at once even with agents', async (t) => {
  const ids = ['n0', 'n1', 'n2'];
  const { server, topo } = await startKeywayInProcess(t, topology(ids, { enabled: false }), { fileWatch: FILE_WATCH });
  const url = `http://127.0.0.1:${server.httpPort}`;
  const get = async <T>(p: string): Promise<T> => (await (await fetch(url + p)).json()) as T;
  const xdsPort = server.listening.xdsPort!;
  [...ids, 'n3'].forEach((id) => gatedAgent(t, id, xdsPort));
  await eventually('agents', () => get<{ proxies: { flavor: string }[] }>('/v1/proxies'), {
    accept: (b) => b.proxies.filter((p) => p.flavor === 'agent').length === 4,
  });
  await topo.write(topology([...ids, 'n3'], { enabled: false }));
  const m = await eventually('n3 in the map', () => get<ShardMapBody>('/v1/shardmap'), { accept: (b) => b.endpoints.length === 4 });
  assert.equal(m.handoff.enabled, false);
  assert.deepEqual(m.handoff.transitions, []);
  assert.ok(m.shards.some((s) => s.owners[0] === 'n3'));
});
