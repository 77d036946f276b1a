// Each replica forgets a node's warm reports on its own streams only (docs/ownership.md
// "Two-phase moves"): two replicas, one of which ages every connection out after 1.5 s
// (KEYWAY_XDS_MAX_CONNECTION_AGE_MS, read when its xDS stage starts), and a node joining both whose
// warm-ups end one after another. The flapping replica forgets the node's reports at each of its
// streams' ends and the agent reports again on each new stream; the other replica forgets nothing.
// Both flip every move warm, none at its deadline.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { eventually } from '../support/eventually.js';
import { agedTopology, countStreamEnds, staggeredAgents, FILE_WATCH, startAgeingKeyway } from '../support/aged-connections.js';
import { startKeywayInProcess } from '../support/keyway-in-process.js';

test('a node whose stream to one replica keeps being aged out flips warm on both replicas; the other replica forgets none of its reports', { timeout: 90_000 }, async (t) => {
  // Per driver (one per replica), how many times it was told the joining node's last stream to it ended.
  const ended = countStreamEnds(t, 'n4');

  const ids = ['n0', 'n1', 'n2', 'n3', 'n4'];
  const steady = await startKeywayInProcess(t, agedTopology(ids.slice(0, 4)), { fileWatch: FILE_WATCH });
  const flapping = await startAgeingKeyway(t, agedTopology(ids.slice(0, 4)));
  const replicas = [steady, flapping];
  const outcomes = replicas.map(() => [] as string[]);
  replicas.forEach((k, i) => t.after(k.server.state.onShardMap((v) => outcomes[i]!.push(...(v.handoff?.completed ?? []).map((c) => c.outcome)))));
  const servers = replicas.map((k) => `127.0.0.1:${k.server.listening.xdsPort!}`);
  // n4's warm-ups end 600 ms apart: its reports trickle over several of its streams to the flapping replica.
  const { warmups } = await staggeredAgents(t, ids, servers);
  await Promise.all(replicas.map((k) => k.topo.write(agedTopology(ids))));
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
  assert.equal(warmups(), moving[0], 'each shard warmed once');
});
