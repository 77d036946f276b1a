// A reload that changes `hotShards:` while hot shards are in force (docs/configuration.md
// "Reloading", docs/hot-shards.md "Churn budget"): the map is re-decided at once under the new
// settings, a change the churn budget does not pace. It was judged against the budget like a load
// window's step, and warned of as load history gone missing ("windows missing, or the replay
// anchor moved"), which sent the operator after a Prometheus or report problem that did not exist.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import type { RunningServer } from '../../src/app/index.js';
import type { LoadSnapshot } from '../../src/core/load.js';
import { shardReaders } from '../../src/core/shard-map.js';
import { FedSnapshots } from '../support/fed-snapshots.js';
import { eventually } from '../support/eventually.js';
import { serveForReloads, topologyText, type LogRecord } from '../serve/support.js';

/** Window `i`: 40 of the 64 shards carry 100 requests each, the rest 1. */
function snapshot(i: number): LoadSnapshot {
  const shards = Array.from({ length: 64 }, (_, s) => ({ shard: s, requests: s < 40 ? 100 : 1 }));
  return { windowStartMs: 1_700_000_000_000 + i * 10_000, windowMs: 10_000, shards, nodes: [] };
}

const BUDGET = 4;
const text = (hotShards: string): string =>
  topologyText({ ready: [true, true, true, true], extra: `hotShards: {spreadThreshold: 0.01, maxMovesPerWindow: ${BUDGET}, ${hotShards}}` });

async function serve(t: TestContext, hotShards: string): Promise<{ server: RunningServer; records: LogRecord[]; snapshots: FedSnapshots; write: (hot: string) => Promise<void> }> {
  const snapshots = new FedSnapshots();
  snapshots.feed([snapshot(0), snapshot(1), snapshot(2)]);
  const { server, topo, records } = await serveForReloads(t, text(hotShards), { loadSnapshots: snapshots });
  return {
    server,
    records,
    snapshots,
    write: async (hot) => {
      await topo.write(text(hot));
      await server.reload();
    },
  };
}

const spreadShards = (server: RunningServer): number => Array.from({ length: 64 }, (_, s) => shardReaders(server.state.current()!.map, s)).filter((r) => r > 1).length;
const overBudget = (records: readonly LogRecord[]): LogRecord[] => records.filter((r) => r.msg.startsWith('hot shards: the decision changed more shards than the churn budget'));
const resettled = (records: readonly LogRecord[]): LogRecord[] => records.filter((r) => r.msg.startsWith('hot shards: new hotShards settings re-decided the map at once'));

test('a reload that lowers hotShards.maxReaders below the spread shards\' readers applies at once, said as a settings change, not as lost load history', async (t) => {
  const { server, records, write } = await serve(t, 'maxReaders: 16');
  const spread = spreadShards(server);
  assert.ok(spread > BUDGET, `more shards spread than the budget (${spread})`);

  await write('maxReaders: 1');
  await eventually('every shard read by its primary alone', () => spreadShards(server) === 0 || undefined);
  assert.deepEqual(overBudget(records), [], 'no warning that the load history changed under the decision');
  const said = resettled(records);
  assert.equal(said.length, 1);
  assert.equal(said[0]!.level, 30);
  assert.equal(said[0]!.changed, spread);
  assert.equal(said[0]!.budget, BUDGET);
});

test('after a settings reload, a decision on the same settings is judged against the churn budget again', async (t) => {
  const { server, records, snapshots, write } = await serve(t, 'maxReaders: 16');
  await write('maxReaders: 16, epsilon: 0.2');
  await eventually('the reload applied', () => server.state.current()!.cause?.reason === 'topology file changed' || undefined);
  assert.deepEqual(overBudget(records), []);

  // A source that lost every window in between and now has load elsewhere: a jump the budget is for.
  const elsewhere = (i: number): LoadSnapshot => ({ ...snapshot(i), shards: snapshot(i).shards.map((s) => ({ shard: s.shard, requests: s.shard >= 24 ? 100 : 1 })) });
  snapshots.feed([elsewhere(500), elsewhere(501)]);
  const warned = await eventually('the churn-budget warning', () => overBudget(records)[0]);
  assert.equal(warned.budget, BUDGET);
  assert.ok((warned.changed as number) > BUDGET);
});
