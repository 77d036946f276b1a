// Failures after the input was applied (docs/api.md `pipelineError`): a load decision or a handoff
// step that throws degrades `/readyz` only while its error holds. The map in force stays, the step
// is tried again (the next load window; the handoff's own retry timer), and its success clears the
// error without waiting for a new topology file or endpoint change. A failing hot-shard policy does
// not hold back a new input either: its map goes out plain.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startServer } from '../../src/app/index.js';
import type { LoadSnapshot } from '../../src/core/load.js';
import type { ProxyFlavor } from '../../src/core/proxy.js';
import { shardReaders } from '../../src/core/shard-map.js';
import type { ServeStage } from '../../src/core/stage.js';
import { FedSnapshots } from '../support/fed-snapshots.js';
import { eventually } from '../support/eventually.js';
import { captureLogs, tempTopology, topologyText } from '../serve/support.js';

/** Shard 5 carries 60% of 1000 rps in the window starting at `start`. */
function hotSnapshot(start: number): LoadSnapshot {
  const shards = Array.from({ length: 64 }, (_, s) => ({ shard: s, requests: s === 5 ? 600 : 400 / 63 }));
  return { windowStartMs: start, windowMs: 10_000, shards, nodes: [] };
}

/** Snapshots whose reading fails while `failing` is set, as a broken load path would. */
class FailingSnapshots extends FedSnapshots {
  failing = false;
  override latest(): readonly LoadSnapshot[] {
    if (this.failing) throw new Error('load store unreachable');
    return super.latest();
  }
}

/** `/readyz`'s status: 'ready', or 'degraded' while an error holds (still HTTP 200). */
async function readyz(port: number): Promise<string> {
  const res = await fetch(`http://127.0.0.1:${port}/readyz`);
  return ((await res.json()) as { status: string }).status;
}

test('a load decision that throws degrades /readyz until the next window decides, and keeps the map in force', async (t) => {
  const topo = await tempTopology(topologyText({ ready: [true, true, true, true] }));
  const snapshots = new FailingSnapshots();
  const { logger, records } = captureLogs('error');
  const server = await startServer({ configFile: topo.file, httpPort: 0, host: '127.0.0.1', logger, loadSnapshots: snapshots, fileWatch: { pollIntervalMs: 0 } });
  t.after(async () => {
    await server.close();
    await topo.cleanup();
  });
  snapshots.feed([hotSnapshot(1_700_000_000_000)]);
  const decided = await eventually('the load decision', () => {
    const v = server.state.current()!;
    return shardReaders(v.map, 5) > 1 ? v : undefined;
  });

  snapshots.failing = true;
  snapshots.feed([hotSnapshot(1_700_000_010_000)]);
  const err = await eventually('the load error', () => server.state.pipelineError());
  assert.match(err.message, /load/);
  assert.equal(server.state.current(), decided, 'the map in force stays');
  assert.equal(await readyz(server.httpPort), 'degraded');
  const logged = records.find((r) => r.level >= 50);
  assert.ok(logged, 'the failure is logged');
  assert.match(logged.msg, /load snapshot/);
  assert.match(logged.msg, /load store unreachable/);

  // The next window decides again: the error goes with no new input.
  snapshots.failing = false;
  snapshots.feed([hotSnapshot(1_700_000_020_000)]);
  await eventually('the error cleared', () => server.state.pipelineError() === undefined);
  assert.equal(await readyz(server.httpPort), 'ready');
});

test('a new input is applied, plain, while the hot-shard policy throws; the load error stays until a decision succeeds', async (t) => {
  const topo = await tempTopology(topologyText({ ready: [true, true, true, true] }));
  const snapshots = new FailingSnapshots();
  const server = await startServer({ configFile: topo.file, httpPort: 0, host: '127.0.0.1', loadSnapshots: snapshots, fileWatch: { pollIntervalMs: 0 } });
  t.after(async () => {
    await server.close();
    await topo.cleanup();
  });
  snapshots.feed([hotSnapshot(1_700_000_000_000)]);
  await eventually('the load decision', () => shardReaders(server.state.current()!.map, 5) > 1);

  snapshots.failing = true;
  await topo.write(topologyText({ ready: [true, true, true, true, true] }));
  await server.reload();
  const view = await eventually('the map of 5', () => server.state.current(), { accept: (v) => v?.map.endpoints.length === 5 });
  assert.equal(view!.cause?.source, 'file');
  assert.equal(shardReaders(view!.map, 5), 1, 'plain rendezvous while the policy fails');
  assert.equal(view!.hotShards, undefined);
  assert.match(server.state.pipelineError()?.message ?? '', /load store unreachable/);

  snapshots.failing = false;
  snapshots.feed([hotSnapshot(1_700_000_010_000)]);
  await eventually('decided again', () => shardReaders(server.state.current()!.map, 5) > 1);
  assert.equal(server.state.pipelineError(), undefined);
});

/** A stage whose proxy reader lists agents e0..e3 and throws while `failing` is set. */
function agentsStage(): { stage: ServeStage; failing: { on: boolean } } {
  const failing = { on: false };
  const nodeIds = (flavor: ProxyFlavor): ReadonlySet<string> => {
    if (failing.on) throw new Error('proxy registry unavailable');
    return new Set(flavor === 'agent' ? ['e0', 'e1', 'e2'] : []);
  };
  const proxies = { proxies: () => [], proxy: () => undefined, configDump: () => undefined, nodeIds };
  return { failing, stage: { name: 'agents', start: async () => ({ readers: { proxies }, close: async () => {} }) } };
}

test('a handoff deadline that throws is retried: the moves flip and /readyz recovers without a new input', async (t) => {
  const handoff = 'handoff:\n  agentWaitMs: 1000\n  flipIntervalMs: 0';
  const topo = await tempTopology(topologyText({ ready: [true, true, true], extra: handoff }));
  const { stage, failing } = agentsStage();
  const server = await startServer({ configFile: topo.file, httpPort: 0, host: '127.0.0.1', stages: [stage], fileWatch: { pollIntervalMs: 0 } });
  t.after(async () => {
    await server.close();
    await topo.cleanup();
  });
  // e3 joins; the fleet runs agents and e3's has not connected: its moves wait agentWaitMs.
  await topo.write(topologyText({ ready: [true, true, true, true], extra: handoff }));
  await server.reload();
  const waiting = await eventually('moves waiting for e3', () => server.state.current(), { accept: (v) => (v?.handoff?.transitions.length ?? 0) > 0 });
  failing.on = true; // the deadline's step fails
  await eventually('the handoff error', () => server.state.pipelineError(), { timeoutMs: 5_000 });
  assert.equal(server.state.current(), waiting, 'the routed map in force stays');
  failing.on = false;
  const flipped = await eventually('the moves flipped', () => server.state.current(), { accept: (v) => v?.handoff?.transitions.length === 0, timeoutMs: 10_000 });
  assert.equal(flipped!.cause?.source, 'handoff');
  assert.equal(server.state.pipelineError(), undefined);
});
