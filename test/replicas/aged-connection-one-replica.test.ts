// Each replica forgets a node's warm reports on its own streams only (docs/ownership.md
// "Two-phase moves"): two replicas, one of which ages every connection out after 1.5 s
// (KEYWAY_XDS_MAX_CONNECTION_AGE_MS, read when its xDS stage starts), and a node joining both whose
// warm-ups end one after another. The flapping replica forgets the node's reports at each of its
// streams' ends and the agent reports again on each new stream; the other replica forgets nothing.
// Both flip every move warm, none at its deadline.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { OwnershipAgent } from '../../src/agent/index.js';
import { HandoffDriver } from '../../src/app/handoff-driver.js';
import { eventually } from '../support/eventually.js';
import { startKeywayInProcess, type InProcessKeyway } from '../support/keyway-in-process.js';

const FILE_WATCH = { debounce: { holdOffMs: 20, maxDelayMs: 100 }, pollIntervalMs: 50 };
const AGE_ENV = { KEYWAY_XDS_MAX_CONNECTION_AGE_MS: '1500', KEYWAY_XDS_MAX_CONNECTION_AGE_GRACE_MS: '100' };

function topology(ids: readonly string[]): string {
  const lines = ['shards: 32', 'replicas: 1', 'handoff: {warmTimeoutMs: 30000, flipIntervalMs: 1000, agentWaitMs: 30000}', 'endpoints:'];
  ids.forEach((id, i) => lines.push(`  - id: ${id}`, `    address: 10.0.0.${i + 1}`, '    port: 8080'));
  return `${lines.join('\n')}\n`;
}

test('a node whose stream to one replica keeps being aged out flips warm on both replicas; the other replica forgets none of its reports', { timeout: 90_000 }, async (t) => {
  // Per driver (one per replica), how many times it was told the joining node's last stream to it ended.
  const ended = new Map<HandoffDriver, number>();
  const proto = HandoffDriver.prototype;
  const { ownershipStreamEnded } = proto;
  proto.ownershipStreamEnded = function (this: HandoffDriver, node: string) {
    if (node === 'n4') ended.set(this, (ended.get(this) ?? 0) + 1);
    return ownershipStreamEnded.call(this, node);
  };
  t.after(() => Object.assign(proto, { ownershipStreamEnded }));

  const ids = ['n0', 'n1', 'n2', 'n3', 'n4'];
  const steady = await startKeywayInProcess(t, topology(ids.slice(0, 4)), { fileWatch: FILE_WATCH });
  const saved = Object.fromEntries(Object.keys(AGE_ENV).map((k) => [k, process.env[k]]));
  Object.assign(process.env, AGE_ENV);
  let flapping: InProcessKeyway;
  try {
    flapping = await startKeywayInProcess(t, topology(ids.slice(0, 4)), { fileWatch: FILE_WATCH });
  } finally {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
  const replicas = [steady, flapping];
  const outcomes = replicas.map(() => [] as string[]);
  replicas.forEach((k, i) => t.after(k.server.state.onShardMap((v) => outcomes[i]!.push(...(v.handoff?.completed ?? []).map((c) => c.outcome)))));
  const servers = replicas.map((k) => `127.0.0.1:${k.server.listening.xdsPort!}`);
  // n4's warm-ups end 600 ms apart: its reports trickle over several of its streams to the flapping replica.
  let warmups = 0;
  const agents = ids.map((id) => {
    const agent = new OwnershipAgent({
      nodeId: id,
      servers,
      timing: { backoffInitialMs: 20, backoffMaxMs: 200, loadWindowMs: 0 },
      warm: () => new Promise<void>((resolve) => setTimeout(resolve, 600 * ++warmups)),
    });
    agent.start();
    t.after(() => agent.close());
    return agent;
  });
  await eventually('every agent connected', () => agents.every((a) => a.connected()), { accept: (up) => up, timeoutMs: 20_000 });
  await Promise.all(replicas.map((k) => k.topo.write(topology(ids))));
  const moving = await Promise.all(
    replicas.map((k) => eventually('moves to n4', () => k.server.state.current()!.handoff!.transitions.length, { accept: (n) => n >= 3 })),
  );
  assert.equal(moving[0], moving[1], 'both replicas run the same moves');
  for (const k of replicas) {
    await eventually('every move flipped', () => k.server.state.current()!.handoff!.transitions.length, { accept: (n) => n === 0, timeoutMs: 40_000 });
  }
  // One driver saw n4's streams to it end again and again; the other (the steady replica) never did.
  const counts = [...ended.values()];
  assert.equal(ended.size, 1, `only the flapping replica was told of n4's streams ending: ${JSON.stringify(counts)}`);
  assert.ok(counts[0]! >= 2, `the flapping replica aged n4's connection out while its moves were under way (${counts[0]} times)`);
  assert.deepEqual(outcomes[0], Array(moving[0]).fill('warm'), 'the steady replica flipped every move warm');
  assert.deepEqual(outcomes[1], Array(moving[1]).fill('warm'), 'the flapping replica flipped every move warm, none at its deadline');
  assert.equal(warmups, moving[0], 'each shard warmed once');
});
