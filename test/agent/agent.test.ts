// The ownership agent (docs/ownership.md "The agent library") against real keyway xDS servers in
// this process: what it receives, how it warms and reports, NACKs, reconnects, several replicas,
// and waitForHandoff.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { pino } from 'pino';
import { OwnershipAgent, type Assignment, type OwnershipAgentOptions } from '../../src/agent/index.js';
import { ServingState } from '../../src/app/serving-state.js';
import { startXdsStage, type RunningXds } from '../../src/app/xds-stage.js';
import type { HandoffState, WarmReport } from '../../src/core/handoff.js';
import type { ServingView } from '../../src/core/serving.js';
import { SnapshotCache } from '../../src/xds/cache/index.js';
import { startXdsServer } from '../../src/xds/server/index.js';
import { newNonce } from '../../src/xds/server/wire.js';
import { effectiveProxyClass, translate } from '../../src/xds/translator/index.js';
import type { ResourceSet } from '../../src/xds/resources.js';
import type { ShardMapBody } from '../../src/admin/api-types.js';
import { eventually } from '../support/eventually.js';
import { freePort } from '../../e2e/support/ports.js';
import { fourNodeTopology, startKeywayInProcess } from '../support/keyway-in-process.js';
import { endpoint, handInput } from '../xds/translator/fixtures.js';

const FAST = { backoffInitialMs: 20, backoffMaxMs: 200, reportRetryMs: 20 };

function agent(t: TestContext, opts: Omit<OwnershipAgentOptions, 'timing'>): OwnershipAgent {
  const a = new OwnershipAgent({ timing: FAST, ...opts });
  a.start();
  t.after(() => a.close());
  return a;
}

// A hand-made routed map: shards 0..7, owners a/b/c.
const nodes = [endpoint('a', '10.0.0.1'), endpoint('b', '10.0.0.2', { port: 9090 }), endpoint('c', '10.0.0.3')];
const base = handInput(nodes, [['a', 'b'], ['b', 'c'], ['c', 'a'], ['a', 'c'], ['b', 'a'], ['c', 'b'], ['a', 'b'], ['b', 'c']]);

function view(handoff?: Omit<HandoffState, 'target' | 'started' | 'completed' | 'enabled'>): Omit<ServingView, 'sequence' | 'updatedAt'> {
  return {
    map: base.shardMap,
    topology: base.topology,
    ...(handoff && { handoff: { enabled: true, target: base.shardMap, started: [], completed: [], ...handoff } }),
  };
}

async function stage(t: TestContext, state: ServingState, reports?: WarmReport[], xdsPort = 0): Promise<RunningXds> {
  const s = await startXdsStage({
    state,
    logger: pino({ level: 'silent' }),
    xdsPort,
    host: '127.0.0.1',
    ...(reports && { warm: { reportWarm: (r: WarmReport) => void reports.push(r) } }),
  });
  t.after(() => s.close());
  return s;
}

const brief = (m: ReadonlyMap<number, Assignment>) => [...m.values()].map((a) => `${a.shard}:${a.role}:${a.phase}`).sort();

test('against keyway serve in-process: the agent receives SERVING assignments matching /v1/shardmap', async (t) => {
  const { server } = await startKeywayInProcess(t, fourNodeTopology([1, 1, 1, 1]));
  const changes: number[] = [];
  const a = agent(t, { nodeId: 'gpu-1', servers: [`127.0.0.1:${server.listening.xdsPort}`], onChange: (m) => changes.push(m.size) });
  const body = (await (await fetch(`http://127.0.0.1:${server.httpPort}/v1/shardmap`)).json()) as ShardMapBody;
  const expected = body.shards.flatMap(({ shard, owners }) => {
    const i = owners.indexOf('gpu-1');
    return i < 0 ? [] : [`${shard}:${i === 0 ? 'primary' : 'replica'}:serving`];
  });
  assert.ok(expected.length > 0);
  await eventually('assignments arrive', () => brief(a.assignments()), { accept: (b) => b.join() === expected.sort().join() });
  assert.equal(a.shardCount(), 32);
  assert.ok(a.connected());
  assert.ok(changes.length >= 1, 'onChange was called');
  for (const x of a.assignments().values()) assert.deepEqual([x.untilUnixMs, x.servingOwners], [0, []]);
  const row = await eventually('the agent is a row of /v1/proxies', async () => {
    const res = (await (await fetch(`http://127.0.0.1:${server.httpPort}/v1/proxies`)).json()) as { proxies: { id: string; flavor: string; types: Record<string, { status: string }> }[] };
    return res.proxies.find((p) => p.id === 'gpu-1');
  }, { accept: (p) => p?.types.assignment?.status === 'SYNCED' });
  assert.equal(row!.flavor, 'agent');
});

test('a transition: the warming node gets WARMING with serving owners and until, warms, and its report reaches the sink', async (t) => {
  const state = new ServingState();
  state.publish(view());
  const reports: WarmReport[] = [];
  const s = await stage(t, state, reports);
  const warmed: Assignment[] = [];
  const a = agent(t, {
    nodeId: 'c',
    servers: [`127.0.0.1:${s.server.port}`],
    warm: async (x) => {
      warmed.push(x);
    },
  });
  await eventually('c serves', () => a.assignments().size, { accept: (n) => n === 5 });
  assert.deepEqual(warmed, [], 'nothing to warm yet');

  const deadline = Date.now() + 30_000;
  state.publish(view({ transitions: [{ shard: 4, from: ['b', 'a'], to: ['c', 'b'], warming: 'c', startedAt: Date.now(), deadline }], drains: [] }));
  await eventually('the warm report reaches the sink', () => reports.length, { accept: (n) => n === 1 });
  // The report names the move by the deadline this replica sent (docs/ownership.md "ReportWarm").
  assert.deepEqual(reports, [{ node: 'c', shards: [], moves: [{ shard: 4, untilUnixMs: deadline }] }]);
  assert.equal(warmed.length, 1);
  assert.deepEqual(warmed[0], {
    shard: 4,
    shardCount: 8,
    role: 'primary',
    phase: 'warming',
    servingOwners: [
      { id: 'b', address: '10.0.0.2', port: 9090 },
      { id: 'a', address: '10.0.0.1', port: 8080 },
    ],
    untilUnixMs: deadline,
    reader: false,
  });
  assert.equal(a.assignments().get(4)?.phase, 'warming');
});

test('warm is aborted when the shard stops warming; a failed warm is not reported', async (t) => {
  const state = new ServingState();
  const deadline = Date.now() + 30_000;
  state.publish(
    view({
      transitions: [
        { shard: 4, from: ['b', 'a'], to: ['c', 'b'], warming: 'c', startedAt: 1, deadline },
        { shard: 6, from: ['a', 'b'], to: ['c', 'a'], warming: 'c', startedAt: 1, deadline },
      ],
      drains: [],
    }),
  );
  const reports: WarmReport[] = [];
  const s = await stage(t, state, reports);
  const aborted: number[] = [];
  const logs: Record<string, unknown>[] = [];
  agent(t, {
    nodeId: 'c',
    servers: [`127.0.0.1:${s.server.port}`],
    log: (r) => logs.push(r),
    warm: (x, signal) =>
      x.shard === 6
        ? Promise.reject(new Error('peer unreachable'))
        : new Promise<void>((_, reject) => {
            signal.addEventListener('abort', () => {
              aborted.push(x.shard);
              reject(new Error('aborted'));
            });
          }),
  });
  await eventually('the failed warm is logged', () => logs.find((l) => l.msg === 'warm failed; not reported'));
  state.publish(view({ transitions: [{ shard: 6, from: ['a', 'b'], to: ['c', 'a'], warming: 'c', startedAt: 1, deadline }], drains: [] }));
  await eventually('shard 4 warm-up aborted', () => aborted, { accept: (x) => x.join() === '4' });
  assert.deepEqual(reports, [], 'neither shard was reported');
});

test('a warm-up runs to the latest deadline: a later one extends it, the deadline aborts it with a TimeoutError, and a later one again starts it anew', async (t) => {
  const state = new ServingState();
  const move = (deadline: number) => view({ transitions: [{ shard: 4, from: ['b', 'a'], to: ['c', 'b'], warming: 'c', startedAt: 1, deadline }], drains: [] });
  state.publish(move(Date.now() + 2000));
  const s = await stage(t, state, []);
  const calls: number[] = [];
  const aborts: string[] = [];
  const logs: Record<string, unknown>[] = [];
  const a = agent(t, {
    nodeId: 'c',
    servers: [`127.0.0.1:${s.server.port}`],
    log: (r) => logs.push(r),
    warm: (x, signal) => {
      calls.push(x.untilUnixMs);
      return new Promise<void>((_, reject) => {
        signal.addEventListener('abort', () => {
          aborts.push((signal.reason as Error).name);
          reject(signal.reason as Error);
        });
      });
    },
  });
  await eventually('warming', () => calls.length, { accept: (n) => n === 1 });
  // keyway extends the deadline while the warm-up runs (a node's stream opened after its move began).
  const extended = Date.now() + 4000;
  state.publish(move(extended));
  await eventually('the agent holds the later deadline', () => a.assignments().get(4)?.untilUnixMs, { accept: (u) => u === extended });
  await sleep(Math.max(0, calls[0]! + 300 - Date.now()));
  assert.deepEqual(aborts, [], 'not aborted at the first deadline');
  assert.equal(calls.length, 1, 'the same warm-up goes on');
  await eventually('aborted at the later deadline', () => aborts, { accept: (x) => x.length === 1, timeoutMs: 8000 });
  assert.ok(Date.now() >= extended);
  assert.deepEqual(aborts, ['TimeoutError']);
  assert.ok(logs.some((l) => l.msg === 'warm-up deadline passed; not reported' && l.shard === 4));
  assert.ok(!logs.some((l) => l.msg === 'warm failed; not reported'), 'a deadline is not a failure');
  // A later deadline after the abort: the warm-up starts again.
  const again = Date.now() + 30_000;
  state.publish(move(again));
  await eventually('warming again', () => calls, { accept: (c) => c.length === 2 });
  assert.equal(calls[1], again);
});

test('a resource the agent cannot use is NACKed; the NACK shows in /v1/proxies', async (t) => {
  // A server whose assignments are broken on purpose (phase unspecified): keyway itself never sends one.
  const cache = new SnapshotCache({
    build: (c): ResourceSet => {
      const set = translate(base, c);
      const broken = set.assignment?.map((r) => (r.name === '0' ? { ...r, message: { ...r.message, phase: 0 } } : r));
      return { ...set, ...(broken && { assignment: broken }) };
    },
    checkConsistency: () => [],
    servedClass: effectiveProxyClass,
  });
  const s = await startXdsServer({ cache, port: 0, host: '127.0.0.1' });
  t.after(() => s.close());
  const a = agent(t, { nodeId: 'a', servers: [`127.0.0.1:${s.port}`] });
  const row = await eventually('NACK recorded', () => s.proxy('a'), { accept: (p) => p?.types.assignment?.status === 'NACKED' });
  assert.match(row!.types.assignment!.lastNack!.message, /^assignment "0": phase 0 is not SERVING, WARMING or DRAINING/);
  assert.equal(a.assignments().size, 0, 'nothing of the rejected response is applied');
});

test('reconnect: the agent announces what it holds, keyway sends nothing unchanged, later changes arrive as deltas', async (t) => {
  const state = new ServingState();
  state.publish(view());
  // A port below the ephemeral range: while the first stage is down, no port-0 listener beside
  // this test can take it from the second.
  const first = await stage(t, state, undefined, await freePort());
  const port = first.server.port;
  const a = agent(t, { nodeId: 'b', servers: [`127.0.0.1:${port}`] });
  await eventually('b serves', () => a.assignments().size, { accept: (n) => n === 6 });
  const before = brief(a.assignments());

  await first.close();
  await eventually('the stream is down', () => !a.connected());
  const second = await startXdsStage({ state, logger: pino({ level: 'silent' }), xdsPort: port, host: '127.0.0.1' });
  t.after(() => second.close());
  // What the new server sent the agent shows in its proxy row.
  // The first request is answered after the subscription hold-off (docs/xds-protocol.md), so the
  // row may show NOT_SENT for those few milliseconds before it settles.
  await eventually('reconnected and answered', () => second.server.proxy('b'), { accept: (p) => p !== undefined && p.types.assignment?.status !== 'NOT_SENT' });
  // keyway has nothing to send: the stream counts as up once it has stayed open STREAM_SETTLE_MS.
  await eventually('up again', () => a.connected());
  assert.deepEqual(brief(a.assignments()), before, 'assignments kept over the reconnect');
  const row = second.server.proxy('b')!;
  assert.equal(row.types.assignment!.nonce, undefined, 'nothing unchanged was sent again');
  assert.equal(row.types.assignment!.status, 'SYNCED', 'it resumed holding what keyway would send: in sync');
  assert.equal(row.types.assignment!.resources, a.assignments().size, 'the row counts what it holds');

  const deadline = Date.now() + 30_000;
  // Nonces come from one sequence in this process (wire.ts): the change's response takes the next one.
  const lastNonce = Number.parseInt(newNonce(), 36);
  state.publish(view({ transitions: [], drains: [{ shard: 2, node: 'b', until: deadline }] }));
  await eventually('the change arrives', () => a.assignments().get(2)?.phase, { accept: (p) => p === 'draining' });
  const after = await eventually('acked', () => second.server.proxy('b'), {
    accept: (p) => p?.types.assignment?.status === 'SYNCED' && p.types.assignment.nonce !== undefined,
  });
  assert.equal(after!.types.assignment!.nonce, (lastNonce + 1).toString(36), 'one response on the new stream: the change only');
  assert.equal(after!.types.assignment!.resources, a.assignments().size, 'the row counts what it holds');
});

test('two replicas: the agent connects to both, reports to both, and keeps its assignments when one goes away', async (t) => {
  const state = new ServingState();
  const deadline = Date.now() + 30_000;
  state.publish(view({ transitions: [{ shard: 0, from: ['a', 'b'], to: ['c', 'a'], warming: 'c', startedAt: 1, deadline }], drains: [] }));
  const r1: WarmReport[] = [];
  const r2: WarmReport[] = [];
  const s1 = await stage(t, state, r1);
  const s2 = await stage(t, state, r2);
  const a = agent(t, { nodeId: 'c', servers: [`127.0.0.1:${s1.server.port}`, `127.0.0.1:${s2.server.port}`], warm: async () => {} });
  await eventually('both replicas got the report', () => [r1.length, r2.length], { accept: ([x, y]) => x === 1 && y === 1 });
  assert.deepEqual(r1, [{ node: 'c', shards: [], moves: [{ shard: 0, untilUnixMs: deadline }] }]);
  assert.deepEqual(r2, r1);
  assert.ok(s1.server.proxy('c') && s2.server.proxy('c'), 'one stream per replica');
  const held = brief(a.assignments());
  await s1.close();
  await eventually('still connected through the second replica', () => a.connected() && s1.server.proxy('c') === undefined);
  assert.deepEqual(brief(a.assignments()), held);
});

test('waitForHandoff: true once every shard is draining, false on timeout', async (t) => {
  const state = new ServingState();
  state.publish(view());
  const s = await stage(t, state);
  const a = agent(t, { nodeId: 'a', servers: [`127.0.0.1:${s.server.port}`] });
  assert.equal(await a.waitForHandoff(300), false, 'a serves shards');
  const waiting = a.waitForHandoff(10_000);
  // a leaves: its shards go to b and c, and a drains each one it held.
  const owners = base.shardMap.owners.map((o) => o.filter((id) => id !== 'a'));
  const drains = base.shardMap.owners.flatMap((o, shard) => (o.includes('a') ? [{ shard, node: 'a', until: Date.now() + 30_000 }] : []));
  state.publish({ ...view({ transitions: [], drains }), map: { ...base.shardMap, owners } });
  assert.equal(await waiting, true);
  assert.ok([...a.assignments().values()].every((x) => x.phase === 'draining'));
});

test("a replica down longer than dropAfterMs stops contributing: with none left the node is told nothing", async (t) => {
  const state = new ServingState();
  state.publish(view());
  const s = await stage(t, state);
  const a = new OwnershipAgent({ nodeId: 'a', servers: [`127.0.0.1:${s.server.port}`], timing: { ...FAST, dropAfterMs: 200 } });
  a.start();
  t.after(() => a.close());
  await eventually('a serves', () => a.assignments().size, { accept: (n) => n > 0 });
  await s.close();
  await eventually('kept while the outage is short', () => !a.connected());
  assert.ok(a.assignments().size > 0);
  await eventually('dropped after dropAfterMs', () => a.assignments().size, { accept: (n) => n === 0 });
  assert.equal(a.shardCount(), undefined);
});

test("after a long outage the agent is back within its own backoff cap, not the gRPC channel's (up to 120 s); lastConnectedMs stays at the outage's start", async (t) => {
  const state = new ServingState();
  state.publish(view());
  const first = await stage(t, state, undefined, await freePort());
  const port = first.server.port;
  const a = agent(t, { nodeId: 'b', servers: [`127.0.0.1:${port}`] });
  assert.equal(a.lastConnectedMs(), undefined, 'never up yet');
  await eventually('b serves', () => a.assignments().size, { accept: (n) => n === 6 });
  assert.ok(Math.abs(a.lastConnectedMs()! - Date.now()) < 1_000, 'now while up');
  await first.close();
  await eventually('the stream is down', () => !a.connected());
  const downAt = a.lastConnectedMs()!;
  // Ten seconds of refused connects: grpc-js's own backoff (1 s, then 1.6x each, attempts about
  // 1, 2.6, 5.2 and 9.3 s in) would wait some 4 to 7 s more when keyway returns; the agent's (FAST:
  // at most 200 ms) must govern.
  await sleep(10_000);
  assert.equal(a.lastConnectedMs(), downAt, 'not advanced while down');
  assert.ok(Date.now() - downAt >= 9_900);
  const second = await startXdsStage({ state, logger: pino({ level: 'silent' }), xdsPort: port, host: '127.0.0.1' });
  t.after(() => second.close());
  const back = Date.now();
  await eventually('reconnected', () => a.connected() && second.server.proxy('b') !== undefined, { timeoutMs: 10_000 });
  assert.ok(Date.now() - back < 2_500, `back ${Date.now() - back} ms after keyway returned (the backoff cap is 200 ms)`);
});
