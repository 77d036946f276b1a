// keyway forgets a node's warm reports when the node opens a new ownership stream or its last one
// ends (docs/ownership.md "Two-phase moves"), and keyway itself ends every agent's stream when it
// ages the connection out (KEYWAY_XDS_MAX_CONNECTION_AGE_MS). The agent reports again on each new
// stream what it still holds warm, so a join whose warm-ups span several such reconnects still
// flips every move warm, none at its deadline.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { OwnershipAgent } from '../../src/agent/index.js';
import { HandoffDriver } from '../../src/app/handoff-driver.js';
import { eventually } from '../support/eventually.js';
import { startKeywayInProcess } from '../support/keyway-in-process.js';

const FILE_WATCH = { debounce: { holdOffMs: 20, maxDelayMs: 100 }, pollIntervalMs: 50 };
const AGE_ENV = { KEYWAY_XDS_MAX_CONNECTION_AGE_MS: '1500', KEYWAY_XDS_MAX_CONNECTION_AGE_GRACE_MS: '100' };

function topology(ids: readonly string[]): string {
  const lines = ['shards: 32', 'replicas: 1', 'handoff: {warmTimeoutMs: 30000, flipIntervalMs: 1000, agentWaitMs: 30000}', 'endpoints:'];
  ids.forEach((id, i) => lines.push(`  - id: ${id}`, `    address: 10.0.0.${i + 1}`, '    port: 8080'));
  return `${lines.join('\n')}\n`;
}

test('a join whose warm-ups span keyway aging the agent\'s connection out several times flips every move warm', { timeout: 90_000 }, async (t) => {
  const saved = Object.fromEntries(Object.keys(AGE_ENV).map((k) => [k, process.env[k]]));
  Object.assign(process.env, AGE_ENV);
  t.after(() => {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  });
  // The joining node's last streams that ended, as the driver is told of them.
  let ended = 0;
  const proto = HandoffDriver.prototype;
  const { ownershipStreamEnded } = proto;
  proto.ownershipStreamEnded = function (this: HandoffDriver, node: string) {
    if (node === 'n4') ended++;
    return ownershipStreamEnded.call(this, node);
  };
  t.after(() => Object.assign(proto, { ownershipStreamEnded }));

  const ids = ['n0', 'n1', 'n2', 'n3', 'n4'];
  const { server, topo } = await startKeywayInProcess(t, topology(ids.slice(0, 4)), { fileWatch: FILE_WATCH });
  const outcomes: string[] = [];
  t.after(server.state.onShardMap((v) => outcomes.push(...(v.handoff?.completed ?? []).map((c) => c.outcome))));
  // n4's warm-ups end one after another, 600 ms apart: its reports trickle over several connections.
  let warmups = 0;
  const agents = ids.map((id) => {
    const agent = new OwnershipAgent({
      nodeId: id,
      servers: [`127.0.0.1:${server.listening.xdsPort!}`],
      timing: { backoffInitialMs: 20, backoffMaxMs: 200, loadWindowMs: 0 },
      warm: () => new Promise<void>((resolve) => setTimeout(resolve, 600 * ++warmups)),
    });
    agent.start();
    t.after(() => agent.close());
    return agent;
  });
  await eventually('every agent connected', () => agents.every((a) => a.connected()), { accept: (up) => up, timeoutMs: 20_000 });
  await topo.write(topology(ids));
  const moving = await eventually('moves to n4', () => server.state.current()!.handoff!.transitions.length, { accept: (n) => n >= 3 });
  const endedBefore = ended;
  await eventually('every move flipped', () => server.state.current()!.handoff!.transitions.length, { accept: (n) => n === 0, timeoutMs: 40_000 });
  assert.ok(ended - endedBefore >= 2, `keyway aged n4's connection out while its moves were under way (${ended - endedBefore} times)`);
  assert.deepEqual(outcomes, Array(moving).fill('warm'), 'every move flipped on a warm report, none at its deadline');
  assert.equal(warmups, moving, 'each shard warmed once: a reconnect reports it again, it does not warm it again');
});
