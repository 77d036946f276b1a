// keyway forgets a node's warm reports when the node opens a new ownership stream or its last one
// ends (docs/ownership.md "Two-phase moves"), and keyway itself ends every agent's stream when it
// ages the connection out (KEYWAY_XDS_MAX_CONNECTION_AGE_MS). The agent reports again on each new
// stream what it still holds warm, so a join whose warm-ups span several such reconnects still
// flips every move warm, none at its deadline.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { eventually } from '../support/eventually.js';
import { agedTopology, countStreamEnds, staggeredAgents, startAgeingKeyway } from '../support/aged-connections.js';

test('a join whose warm-ups span keyway aging the agent\'s connection out several times flips every move warm', { timeout: 90_000 }, async (t) => {
  // The joining node's last streams that ended, as the driver is told of them.
  const ends = countStreamEnds(t, 'n4');
  const ended = (): number => [...ends.values()].reduce((a, b) => a + b, 0);

  const ids = ['n0', 'n1', 'n2', 'n3', 'n4'];
  const { server, topo } = await startAgeingKeyway(t, agedTopology(ids.slice(0, 4)));
  const outcomes: string[] = [];
  t.after(server.state.onShardMap((v) => outcomes.push(...(v.handoff?.completed ?? []).map((c) => c.outcome))));
  // n4's warm-ups end one after another, 600 ms apart: its reports trickle over several connections.
  const { warmups } = await staggeredAgents(t, ids, [`127.0.0.1:${server.listening.xdsPort!}`]);
  await topo.write(agedTopology(ids));
  const moving = await eventually('moves to n4', () => server.state.current()!.handoff!.transitions.length, { accept: (n) => n >= 3 });
  const endedBefore = ended();
  await eventually('every move flipped', () => server.state.current()!.handoff!.transitions.length, { accept: (n) => n === 0, timeoutMs: 40_000 });
  assert.ok(ended() - endedBefore >= 2, `keyway aged n4's connection out while its moves were under way (${ended() - endedBefore} times)`);
  assert.deepEqual(outcomes, Array(moving).fill('warm'), 'every move flipped on a warm report, none at its deadline');
  assert.equal(warmups(), moving, 'each shard warmed once: a reconnect reports it again, it does not warm it again');
});
