/**
 * For tests of warm reports across keyway ageing agents' connections out (docs/ownership.md
 * "Two-phase moves"): the topology, the ageing settings, and a count of what the handoff driver is
 * told when a node's last ownership stream ends.
 */
import type { TestContext } from 'node:test';
import { OwnershipAgent } from '../../src/agent/index.js';
import { HandoffDriver } from '../../src/app/handoff-driver.js';
import { eventually } from './eventually.js';
import { startKeywayInProcess, type InProcessKeyway } from './keyway-in-process.js';

export const FILE_WATCH = { debounce: { holdOffMs: 20, maxDelayMs: 100 }, pollIntervalMs: 50 };
/** keyway ends every connection 1.5 s after it opened (read when its xDS stage starts). */
export const AGE_ENV = { KEYWAY_XDS_MAX_CONNECTION_AGE_MS: '1500', KEYWAY_XDS_MAX_CONNECTION_AGE_GRACE_MS: '100' };

/** S = 32, R = 1, flip ticks of 1 s, warm-up waits long enough that no move ends at its deadline in a test. */
export function agedTopology(ids: readonly string[]): string {
  const lines = ['shards: 32', 'replicas: 1', 'handoff: {warmTimeoutMs: 30000, flipIntervalMs: 1000, agentWaitMs: 30000}', 'endpoints:'];
  ids.forEach((id, i) => lines.push(`  - id: ${id}`, `    address: 10.0.0.${i + 1}`, '    port: 8080'));
  return `${lines.join('\n')}\n`;
}

/** An in-process keyway that ages connections out (AGE_ENV), the environment restored once it started. */
export async function startAgeingKeyway(t: Pick<TestContext, 'after'>, topologyText: string): Promise<InProcessKeyway> {
  const saved = Object.fromEntries(Object.keys(AGE_ENV).map((k) => [k, process.env[k]]));
  Object.assign(process.env, AGE_ENV);
  try {
    return await startKeywayInProcess(t, topologyText, { fileWatch: FILE_WATCH });
  } finally {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
}

/** Per handoff driver (one per keyway in the process), how often it is told `node`'s last ownership stream ended; undone after the test. */
export function countStreamEnds(t: Pick<TestContext, 'after'>, node: string): Map<HandoffDriver, number> {
  const ended = new Map<HandoffDriver, number>();
  const proto = HandoffDriver.prototype;
  const { ownershipStreamEnded } = proto;
  proto.ownershipStreamEnded = function (this: HandoffDriver, id: string) {
    if (id === node) ended.set(this, (ended.get(this) ?? 0) + 1);
    return ownershipStreamEnded.call(this, id);
  };
  t.after(() => Object.assign(proto, { ownershipStreamEnded }));
  return ended;
}

/**
 * One agent per id, connected to `servers`, each warm-up taking 600 ms longer than the one before
 * (their reports trickle over several of keyway's connection ages); resolves once all are connected,
 * with the count of warm-ups begun so far.
 */
export async function staggeredAgents(t: Pick<TestContext, 'after'>, ids: readonly string[], servers: string[]): Promise<{ agents: OwnershipAgent[]; warmups: () => number }> {
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
  return { agents, warmups: () => warmups };
}
