/**
 * The example cache node's side of warm handoff (docs/observability.md "The example cache node",
 * docs/ownership.md): `GET /v1/warm`, the warm-up a node runs for a shard it gains, the DRAINING
 * phase, and `/v1/drain` for a preStop hook. Ownership comes from a stand-in of keyway's agent
 * (the same API, driven by the test) or from a real keyway's REST shard map.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { startServer } from '../../../src/app/index.js';
import { keyToShard } from '../../../src/sharding/index.js';
import type { Assignment, OwnershipAgentLike, OwnershipAgentOptions } from '../../../examples/cache-node/agent-ownership.js';
import { ownershipFromAssignments } from '../../../examples/cache-node/agent-ownership.js';
import { CACHE_NODE_METRICS as W } from '../../../src/telemetry/metric-names.js';
import { LruCache } from '../../../examples/cache-node/lru.js';
import { startCacheNodeServer, type RunningCacheNode } from '../../../examples/cache-node/server.js';
import { BadWarmRequest, demoteShards, parseWarmQuery, shardEntries } from '../../../examples/cache-node/warm.js';
import { TieredCache } from '../../../examples/cache-node/tiers.js';
import { tempTopology, topologyText } from '../../serve/support.js';
import { eventually } from '../../support/eventually.js';
import { parseExposition } from '../support/exposition.js';
import { freePort } from '../../../e2e/support/ports.js';

const S = 16;

/** A stand-in for keyway's OwnershipAgent: the test sets the assignments and drives the warm-ups. */
class StandInAgent implements OwnershipAgentLike {
  readonly opts: OwnershipAgentOptions;
  #assignments = new Map<number, Assignment>();
  started = false;
  closed = false;
  /** Every server stream down (keyway unreachable). */
  down = false;
  handoff: (timeoutMs: number) => Promise<boolean> = () => Promise.resolve(true);
  constructor(opts: OwnershipAgentOptions) {
    this.opts = opts;
  }
  set(list: readonly Assignment[]): void {
    this.#assignments = new Map(list.map((a) => [a.shard, a]));
    this.opts.onChange?.(this.#assignments);
  }
  start(): void {
    this.started = true;
  }
  close(): Promise<void> {
    this.closed = true;
    return Promise.resolve();
  }
  assignments(): ReadonlyMap<number, Assignment> {
    return this.#assignments;
  }
  shardCount(): number | undefined {
    return this.#assignments.size > 0 ? S : undefined;
  }
  connected(): boolean {
    return this.started && !this.closed && !this.down;
  }
  waitForHandoff(timeoutMs: number): Promise<boolean> {
    return this.handoff(timeoutMs);
  }
}

function serving(shard: number, role: 'primary' | 'replica' = 'primary', reader = role === 'primary'): Assignment {
  return { shard, shardCount: S, role, phase: 'serving', servingOwners: [], untilUnixMs: 0, reader };
}

async function nodeWithAgent(t: { after(fn: () => Promise<void>): void }, id: string, extra: { l1Capacity?: number; warmLimit?: number } = {}) {
  let agent: StandInAgent | undefined;
  const logs: Record<string, unknown>[] = [];
  const node = await startCacheNodeServer({
    id,
    keywayXds: ['127.0.0.1:1'],
    createAgent: (opts) => (agent = new StandInAgent(opts)),
    l3DelayMs: 0,
    shardMetrics: true,
    l1Capacity: extra.l1Capacity ?? 200,
    ...(extra.warmLimit !== undefined ? { warmLimit: extra.warmLimit } : {}),
    log: (r) => logs.push(r),
  });
  t.after(() => node.close());
  assert.ok(agent?.started, 'the node starts the agent');
  assert.deepEqual(agent.opts.servers, ['127.0.0.1:1']);
  assert.equal(agent.opts.nodeId, id);
  return { node, agent, logs };
}

/** Keys of `shard` under S, `n` of them. */
function keysOf(shard: number, n: number, prefix = 'k'): string[] {
  const out: string[] = [];
  for (let i = 0; out.length < n; i++) if (keyToShard(`${prefix}:${i}`, S) === shard) out.push(`${prefix}:${i}`);
  return out;
}

async function get(node: RunningCacheNode, path: string, init: RequestInit = {}) {
  const res = await fetch(`${node.url}${path}`, init);
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

test('shardEntries: one shard, most recently used first with its idle ms, bounded, without touching recency', () => {
  let now = 0;
  const l1 = new LruCache<string, string>(100, () => now);
  const a = keysOf(3, 4);
  const b = keysOf(5, 2);
  for (const k of [a[0]!, b[0]!, a[1]!, a[2]!, b[1]!, a[3]!]) {
    now += 10;
    l1.set(k, `v-${k}`);
  }
  now = 100;
  l1.get(a[0]!); // now the most recent
  now = 105;
  assert.deepEqual(
    shardEntries(l1, 3, S, 10).map(([k]) => k),
    [a[0], a[3], a[2], a[1]],
  );
  assert.deepEqual(shardEntries(l1, 3, S, 2), [
    [a[0], `v-${a[0]}`, 5],
    [a[3], `v-${a[3]}`, 45],
  ]);
  const order = l1.keys();
  shardEntries(l1, 3, S, 10);
  assert.deepEqual(l1.keys(), order, 'reading entries for a warm-up leaves recency alone');
});

test('demoteShards: the L1 entries of a shard move to L2, filed there by their last use in L1', () => {
  let now = 0;
  const cache = new TieredCache({ l1Capacity: 10, l2Capacity: 6, l3DelayMs: 0, now: () => now });
  const a = keysOf(3, 3);
  const b = keysOf(5, 1);
  const old = keysOf(7, 3);
  cache.l2.set(a[0]!, 'stale copy'); // L2 saw a[0] once, long ago
  for (const k of old) cache.l2.set(k, `v-${k}`);
  now = 100;
  for (const k of [a[0]!, b[0]!, a[1]!, a[2]!]) {
    now += 10;
    cache.l1.set(k, `v-${k}`);
  }
  now = 200;
  assert.equal(demoteShards(cache, new Set([3]), S), 3);
  assert.deepEqual(cache.l1.keys(), [b[0]], 'the shard left L1; the other stays');
  // L2 (6 entries): its three old entries, then a[0..2] by their L1 use; the stale copy was refreshed.
  assert.deepEqual(cache.l2.keys(), [...old, a[0], a[1], a[2]]);
  assert.equal(cache.l2.get(a[0]!), `v-${a[0]}`);
  cache.l2.set('newer', 'x');
  assert.equal(cache.l2.has(old[0]!), false, 'L2 evicts its least recent entry, not a demoted one');
  assert.equal(demoteShards(cache, new Set([9]), S), 0);
});

test('parseWarmQuery: shard required and < S, limit defaults to 5000 and is bounded', () => {
  assert.deepEqual(parseWarmQuery(new URLSearchParams('shard=4'), S), { shard: 4, limit: 5000 });
  assert.deepEqual(parseWarmQuery(new URLSearchParams('shard=0&limit=7'), S), { shard: 0, limit: 7 });
  for (const [q, msg] of [
    ['', /shard must be a non-negative integer, got null/],
    ['shard=-1', /shard must be/],
    ['shard=16', /shard 16 does not exist: shards are 0..15/],
    ['shard=1&limit=0', /limit must be an integer in 1..100000, got "0"/],
    ['shard=1&limit=1e3', /limit must be/],
    ['shard=1&limit=100001', /limit must be/],
  ] as const) {
    assert.throws(() => parseWarmQuery(new URLSearchParams(q), S), (err: Error) => err instanceof BadWarmRequest && msg.test(err.message), q);
  }
});

test('ownershipFromAssignments: serving by role, warming with its peers, draining with its end; the version follows the content', () => {
  const peer = { id: 'p', address: '127.0.0.1', port: 9 };
  const list: Assignment[] = [
    serving(1),
    serving(2, 'replica'),
    { shard: 3, shardCount: S, role: 'primary', phase: 'warming', servingOwners: [peer], untilUnixMs: 5, reader: false },
    { shard: 4, shardCount: S, role: 'primary', phase: 'draining', servingOwners: [], untilUnixMs: 9, reader: false },
  ];
  const o = ownershipFromAssignments(new Map(list.map((a) => [a.shard, a])), S);
  assert.deepEqual([[...o.primary], [...o.replica]], [[1], [2]]);
  assert.deepEqual([...o.warming!], [[3, { servingOwners: [peer], untilUnixMs: 5 }]]);
  assert.deepEqual([...o.draining!], [[4, 9]]);
  const reversed = ownershipFromAssignments(new Map([...list].reverse().map((a) => [a.shard, a])), S);
  assert.equal(reversed.version, o.version, 'insertion order does not change the version');
  assert.notEqual(ownershipFromAssignments(new Map([[1, serving(1)]]), S).version, o.version);
});

test('GET /v1/warm answers the L1 entries of one shard, most recent first; 400 on a bad query, 503 before the node knows S', async (t) => {
  const { node, agent } = await nodeWithAgent(t, 'src');
  assert.equal((await get(node, '/v1/warm?shard=1')).status, 503, 'no assignments yet: S unknown');
  agent.set([serving(3), serving(5)]);
  const mine = keysOf(3, 5);
  const other = keysOf(5, 3);
  for (const k of [...mine, ...other]) assert.equal((await get(node, `/kv/${k}`)).status, 200);
  await get(node, `/kv/${mine[1]}`); // most recent of shard 3 now
  const warm = await get(node, '/v1/warm?shard=3');
  assert.equal(warm.status, 200);
  assert.equal(warm.body.node, 'src');
  assert.equal(warm.body.shard, 3);
  const entries = warm.body.entries as [string, string, number][];
  assert.deepEqual(
    entries.map(([k]) => k),
    [mine[1], mine[4], mine[3], mine[2], mine[0]],
  );
  const idle = entries.map((e) => e[2]);
  assert.ok(idle.every((ms, i) => Number.isInteger(ms) && ms >= 0 && (i === 0 || ms >= idle[i - 1]!)), `idle ms grow with age: ${idle.join()}`);
  const first = await get(node, `/kv/${mine[1]}`);
  assert.equal(entries[0]![1], first.body.value);
  assert.equal(((await get(node, '/v1/warm?shard=3&limit=2')).body.entries as unknown[]).length, 2);
  assert.deepEqual((await get(node, '/v1/warm?shard=7')).body.entries, [], 'a shard with nothing in L1');
  const bad = await get(node, '/v1/warm?shard=99');
  assert.equal(bad.status, 400);
  assert.match(String(bad.body.error), /\/v1\/warm: shard 99 does not exist/);
  assert.equal((await get(node, '/v1/warm?shard=3&limit=many')).status, 400);
});

test('a warming node copies the shard from the first serving owner that answers into L1 and L2, and counts entries, duration and early requests', async (t) => {
  const { node: src, agent: srcAgent } = await nodeWithAgent(t, 'src');
  srcAgent.set([serving(3)]);
  const hot = keysOf(3, 30);
  for (const k of hot) await get(src, `/kv/${k}`);

  // A peer that is down (connection refused), then one that answers garbage, then the real owner.
  const junk = createServer((_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end('{"entries": 7}'));
  const negative = createServer((_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end('{"node":"x","shard":3,"entries":[["k","v",-1]]}'));
  await new Promise<void>((r) => negative.listen(0, '127.0.0.1', r));
  t.after(() => new Promise<void>((r) => negative.close(() => r())));
  await new Promise<void>((r) => junk.listen(0, '127.0.0.1', r));
  t.after(() => new Promise<void>((r) => junk.close(() => r())));
  // Below the ephemeral range, so no port-0 listener beside this test can take it meanwhile.
  const downPort = await freePort();

  const { node: dst, agent, logs } = await nodeWithAgent(t, 'dst', { l1Capacity: 100, warmLimit: 20 });
  const warming: Assignment = {
    shard: 3,
    shardCount: S,
    role: 'primary',
    phase: 'warming',
    servingOwners: [
      { id: 'down', address: '127.0.0.1', port: downPort },
      { id: 'junk', address: '127.0.0.1', port: (junk.address() as AddressInfo).port },
      { id: 'negative', address: '127.0.0.1', port: (negative.address() as AddressInfo).port },
      { id: 'src', address: '127.0.0.1', port: src.httpPort },
    ],
    untilUnixMs: Date.now() + 30_000,
    reader: false,
  };
  agent.set([serving(1), warming]);
  assert.equal(dst.ownership()?.warming?.has(3), true);

  // A request for the shard before the warm-up finished: keyway routed it here too early.
  const early = keysOf(3, 1, 'early')[0]!;
  const served = await get(dst, `/kv/${early}`);
  assert.equal(served.body.owner, 'true', 'a warming shard counts as owned');
  assert.equal(served.body.tier, 'l3');
  assert.equal((await get(dst, `/kv/${early}`)).body.tier, 'l1', 'a warming shard is admitted to L1');

  await agent.opts.warm!(warming, new AbortController().signal);
  // The 20 most recent of src (warmLimit), copied in order.
  const expected = shardEntries(src.cache.l1, 3, S, 20).map(([k]) => k);
  assert.equal(expected.length, 20);
  const copied = shardEntries(dst.cache.l1, 3, S, 100).map(([k]) => k).filter((k) => k !== early);
  assert.deepEqual(copied, expected, 'most recent first at the peer, most recent first here');
  for (const k of expected) assert.ok(dst.cache.l2.has(k), `${k} also in L2`);
  assert.equal((await get(dst, `/kv/${expected[0]}`)).body.tier, 'l1');
  assert.deepEqual(
    logs.filter((r) => r.msg === 'warm-up: a serving owner did not answer; trying the next').map((r) => r.peer),
    ['down', 'junk', 'negative'],
  );
  assert.match(String(logs.find((r) => r.peer === 'negative')?.err), /\[key, value, idleMs\] .* idleMs >= 0/);

  const exp = parseExposition(await (await fetch(`${dst.url}/metrics`)).text());
  assert.equal(exp.value(W.warmEntries, { node: 'dst', shard: '3' }), 20);
  assert.equal(exp.value(`${W.warmDuration}_count`, { node: 'dst', outcome: 'copied' }), 1);
  assert.equal(exp.value(W.requestsWhileWarming, { node: 'dst', shard: '3' }), 2, 'both early requests counted');
  await get(dst, `/kv/${expected[1]}`);
  const after = parseExposition(await (await fetch(`${dst.url}/metrics`)).text());
  assert.equal(after.value(W.requestsWhileWarming, { node: 'dst', shard: '3' }), 2, 'once warm, requests no longer count');

  // No peer answers: nothing to copy, the warm-up still resolves (the shard fills from L2 and L3).
  const lonely: Assignment = { ...warming, shard: 4, servingOwners: [{ id: 'down', address: '127.0.0.1', port: downPort }] };
  agent.set([serving(1), warming, lonely]);
  await agent.opts.warm!(lonely, new AbortController().signal);
  const exp2 = parseExposition(await (await fetch(`${dst.url}/metrics`)).text());
  assert.equal(exp2.value(`${W.warmDuration}_count`, { node: 'dst', outcome: 'empty' }), 1);

  // The owner answers but holds nothing of the shard: nothing copied, so `empty` too, not `copied`.
  const bare: Assignment = { ...warming, shard: 6, servingOwners: [{ id: 'src', address: '127.0.0.1', port: src.httpPort }] };
  agent.set([serving(1), warming, lonely, bare]);
  await agent.opts.warm!(bare, new AbortController().signal);
  const expBare = parseExposition(await (await fetch(`${dst.url}/metrics`)).text());
  assert.equal(expBare.value(`${W.warmDuration}_count`, { node: 'dst', outcome: 'empty' }), 2);
  assert.equal(expBare.value(`${W.warmDuration}_count`, { node: 'dst', outcome: 'copied' }), 1);
  assert.ok(logs.some((r) => r.msg === 'warmed shard' && r.shard === 6 && r.entries === 0 && r.from === 'src'), 'the log names the owner that answered');

  // Aborted by the agent: it rejects, so the agent reports nothing.
  const ac = new AbortController();
  ac.abort(new Error('shard no longer warming'));
  await assert.rejects(agent.opts.warm!({ ...warming, shard: 5 }, ac.signal), /shard no longer warming/);
  const exp3 = parseExposition(await (await fetch(`${dst.url}/metrics`)).text());
  assert.equal(exp3.value(`${W.warmDuration}_count`, { node: 'dst', outcome: 'aborted' }), 1);
});

test('a warm-up stops when its signal aborts (the agent aborts it at the deadline): a peer that never answers does not hold it', async (t) => {
  const hang = createServer(() => {}); // accepts, never answers
  await new Promise<void>((r) => hang.listen(0, '127.0.0.1', r));
  t.after(() => {
    hang.closeAllConnections();
    return new Promise<void>((r) => hang.close(() => r()));
  });
  const { agent } = await nodeWithAgent(t, 'dst');
  const warming: Assignment = {
    shard: 2,
    shardCount: S,
    role: 'primary',
    phase: 'warming',
    servingOwners: [{ id: 'hang', address: '127.0.0.1', port: (hang.address() as AddressInfo).port }],
    untilUnixMs: Date.now() + 60_000,
    reader: false,
  };
  agent.set([warming]);
  const started = Date.now();
  await assert.rejects(agent.opts.warm!(warming, AbortSignal.timeout(300)), { name: 'TimeoutError' });
  assert.ok(Date.now() - started < 3_000, `stopped when the signal aborted, not at the 5 s fetch timeout (${Date.now() - started} ms)`);
});

test('a shard the node stops reading but still backs up (a demoted primary, a spread ended) leaves L1; one it reads stays', async (t) => {
  const { node, agent } = await nodeWithAgent(t, 'n');
  agent.set([serving(1), serving(6), serving(7, 'replica', true)]);
  for (const shard of [1, 6, 7]) for (const k of keysOf(shard, 3)) await get(node, `/kv/${k}`);
  assert.equal(shardEntries(node.cache.l1, 7, S, 100).length, 3, 'a reading replica admits and keeps its entries');
  // 6: primary -> backup replica (a bounded-load move); 7: reader -> backup (the spread ended).
  agent.set([serving(1), serving(6, 'replica'), serving(7, 'replica')]);
  await eventually('the shards no longer read leave L1', () => shardEntries(node.cache.l1, 6, S, 100).length + shardEntries(node.cache.l1, 7, S, 100).length === 0, { timeoutMs: 5_000 });
  assert.equal(shardEntries(node.cache.l1, 1, S, 100).length, 3, 'the shard it still leads stays');
  const r = await get(node, `/kv/${keysOf(6, 1, 'failover')[0]}`);
  assert.equal(r.body.owner, 'true', 'a backup replica still serves (and admits) what reaches it');
  assert.equal((await get(node, `/kv/${keysOf(6, 1, 'failover')[0]}`)).body.tier, 'l1');
});

test('a draining shard leaves L1 for L2 when the drain begins; its stragglers are served from L2 until the end', async (t) => {
  const { node, agent } = await nodeWithAgent(t, 'n');
  agent.set([serving(1), serving(6)]);
  const keep = keysOf(1, 3);
  const leaving = keysOf(6, 3);
  for (const k of [...keep, ...leaving]) await get(node, `/kv/${k}`);
  const draining = (untilUnixMs: number): Assignment => ({ shard: 6, shardCount: S, role: 'primary', phase: 'draining', servingOwners: [], untilUnixMs, reader: false });
  agent.set([serving(1), draining(Date.now() + 60_000)]);
  await eventually('the draining shard leaves L1', () => shardEntries(node.cache.l1, 6, S, 100).length === 0, { timeoutMs: 5_000 });
  assert.equal(shardEntries(node.cache.l1, 1, S, 100).length, 3, 'the shard it still serves stays');
  for (const k of leaving) assert.ok(node.cache.l2.has(k), `${k} went to L2`);
  const r = await get(node, `/kv/${leaving[0]}`);
  assert.equal(r.body.owner, 'true', 'still owned while draining');
  assert.equal(r.body.tier, 'l2');
  const straggler = keysOf(6, 1, 'late')[0]!;
  await get(node, `/kv/${straggler}`);
  assert.equal((await get(node, `/kv/${straggler}`)).body.tier, 'l2', 'a straggler is not admitted to L1');
  agent.set([serving(1), draining(Date.now() - 1)]);
  assert.equal((await get(node, `/kv/${leaving[0]}`)).body.owner, 'false', 'not owned once the drain has ended');
});

test('keyway routing nothing here any more leaves the node owning nothing; keyway unreachable leaves it its last ownership', async (t) => {
  const { node, agent } = await nodeWithAgent(t, 'n');
  agent.set([serving(1), serving(6, 'replica')]);
  const keys = keysOf(1, 3);
  for (const k of keys) await get(node, `/kv/${k}`);
  // A connected keyway removes every assignment (the node left the topology, or its drains ended).
  agent.set([]);
  const none = (await get(node, '/v1/ownership')).body;
  assert.deepEqual([none.primary, none.replica, none.shardCount], [[], [], S], 'S is kept from the assignments before');
  assert.equal((await get(node, `/kv/${keys[0]}`)).body.owner, 'false');
  await eventually('the shard it no longer serves leaves L1', () => shardEntries(node.cache.l1, 1, S, 100).length === 0, { timeoutMs: 5_000 });
  for (const k of keys) assert.ok(node.cache.l2.has(k), `${k} went to L2`);

  // The agent drops a server down longer than dropAfterMs: no answer, so no change.
  agent.set([serving(1)]);
  agent.down = true;
  agent.set([]);
  assert.deepEqual((await get(node, '/v1/ownership')).body.primary, [1], 'the last ownership stays while keyway is unreachable');
  assert.equal((await get(node, `/kv/${keys[1]}`)).body.owner, 'true');
});

test('/v1/drain waits for the agent to hand every shard off and answers {handedOff}; GET works too (preStop httpGet)', async (t) => {
  const { node, agent } = await nodeWithAgent(t, 'n');
  agent.set([serving(1)]);
  const asked: number[] = [];
  let release!: (v: boolean) => void;
  agent.handoff = (ms) => {
    asked.push(ms);
    return new Promise<boolean>((r) => (release = r));
  };
  let answered = false;
  const pending = get(node, '/v1/drain?timeoutMs=1234', { method: 'POST' }).then((r) => ((answered = true), r));
  await eventually('the drain to reach the agent', () => asked.length === 1);
  assert.deepEqual(asked, [1234]);
  assert.equal(answered, false, 'blocks while shards are still routed here');
  release(true);
  assert.deepEqual(await pending, { status: 200, body: { handedOff: true } });

  agent.handoff = (ms) => {
    asked.push(ms);
    return Promise.resolve(false);
  };
  assert.deepEqual(await get(node, '/v1/drain'), { status: 200, body: { handedOff: false } });
  assert.equal(asked[1], 25_000, 'default timeout');
  const bad = await get(node, '/v1/drain?timeoutMs=soon', { method: 'POST' });
  assert.equal(bad.status, 400);
  assert.match(String(bad.body.error), /timeoutMs must be an integer in 0..600000/);
  assert.equal((await get(node, '/v1/drain?timeoutMs=600001', { method: 'POST' })).status, 400);
  assert.equal((await get(node, '/v1/drain', { method: 'PUT' })).status, 405);
});

test('/v1/drain over REST: false while keyway still routes shards to the node, true once it routes none', async (t) => {
  const topo = await tempTopology(topologyText({ shards: 64, replicas: 1, ready: [true, true] }));
  const server = await startServer({ configFile: topo.file, httpPort: 0, host: '127.0.0.1', fileWatch: { debounce: { holdOffMs: 20, maxDelayMs: 100 }, pollIntervalMs: 100 } });
  t.after(async () => {
    await server.close();
    await topo.cleanup();
  });
  const node = await startCacheNodeServer({ id: 'e0', keywayUrl: `http://127.0.0.1:${server.httpPort}`, l3DelayMs: 0, pollIntervalMs: 100 });
  t.after(() => node.close());
  assert.equal(node.ownershipSource, 'rest');
  await eventually('ownership', () => node.ownership());
  assert.deepEqual(await get(node, '/v1/drain?timeoutMs=300', { method: 'POST' }), { status: 200, body: { handedOff: false } });
  const pending = get(node, '/v1/drain?timeoutMs=10000', { method: 'POST' });
  await topo.write(topologyText({ shards: 64, replicas: 1, ready: [false, true] }));
  assert.deepEqual(await pending, { status: 200, body: { handedOff: true } });
});
