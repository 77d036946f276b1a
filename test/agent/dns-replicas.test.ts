// `dns:///HOST:PORT` servers (docs/ownership.md "Several replicas"): one stream per address the
// name resolves to, kept up to date as replicas come and go, through a `resolveHost` the test
// controls (each answer a host:port of a real keyway xDS server in this process).
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { credentials } from '@grpc/grpc-js';
import { pino } from 'pino';
import { OwnershipAgent, type OwnershipAgentOptions } from '../../src/agent/index.js';
import { RERESOLVE_MIN_AGE_MS } from '../../src/agent/replica-names.js';
import { ServingState } from '../../src/app/serving-state.js';
import { startXdsStage, type RunningXds } from '../../src/app/xds-stage.js';
import type { HandoffState, WarmReport } from '../../src/core/handoff.js';
import type { ServingView } from '../../src/core/serving.js';
import { eventually } from '../support/eventually.js';
import { makePki, opensslSkipReason } from '../support/certs.js';
import { startFakeKeyway } from './fake-keyway.js';
import { endpoint, handInput } from '../xds/translator/fixtures.js';

const FAST = { backoffInitialMs: 20, backoffMaxMs: 200, reportRetryMs: 20, dnsRefreshMs: 50 };
const NAME = 'dns:///keyway-replicas.keyway-system.svc.cluster.local:18000';

// Shards 0..7 owned by a/b/c; node c holds shards 1, 2, 3, 5 and 7.
const nodes = [endpoint('a', '10.0.0.1'), endpoint('b', '10.0.0.2'), endpoint('c', '10.0.0.3')];
const base = handInput(nodes, [['a', 'b'], ['b', 'c'], ['c', 'a'], ['a', 'c'], ['b', 'a'], ['c', 'b'], ['a', 'b'], ['b', 'c']]);
const deadline = Date.now() + 60_000;
const move0 = { shard: 0, from: ['a', 'b'], to: ['c', 'a'], warming: 'c', startedAt: 1, deadline };
const move4 = { shard: 4, from: ['b', 'a'], to: ['c', 'b'], warming: 'c', startedAt: 1, deadline };

function view(handoff?: Omit<HandoffState, 'target' | 'started' | 'completed' | 'enabled'>): Omit<ServingView, 'sequence' | 'updatedAt'> {
  return {
    map: base.shardMap,
    topology: base.topology,
    ...(handoff && { handoff: { enabled: true, target: base.shardMap, started: [], completed: [], ...handoff } }),
  };
}

async function stage(t: TestContext, state: ServingState, reports?: WarmReport[]): Promise<RunningXds & { address: string }> {
  const s = await startXdsStage({
    state,
    logger: pino({ level: 'silent' }),
    xdsPort: 0,
    host: '127.0.0.1',
    ...(reports && { warm: { reportWarm: (r: WarmReport) => void reports.push(r) } }),
  });
  t.after(() => s.close());
  return Object.assign(s, { address: `127.0.0.1:${s.server.port}` });
}

function agent(t: TestContext, opts: Omit<OwnershipAgentOptions, 'servers' | 'nodeId'> & Partial<Pick<OwnershipAgentOptions, 'servers'>>): OwnershipAgent {
  const a = new OwnershipAgent({ nodeId: 'c', servers: [NAME], ...opts, timing: { ...FAST, ...opts.timing } });
  a.start();
  t.after(() => a.close());
  return a;
}

test('a dns:/// name opens one stream per address; an address gone from the answer has its link closed and assignments come from the replica left', async (t) => {
  // Two replicas that disagree (B has c warming shard 4), so the test can tell whose assignments the agent exposes.
  const stateA = new ServingState();
  stateA.publish(view());
  const stateB = new ServingState();
  stateB.publish(view({ transitions: [move4], drains: [] }));
  const [sA, sB] = [await stage(t, stateA), await stage(t, stateB)];
  let answer = [sA.address, sB.address];
  const asked: string[] = [];
  const a = agent(t, {
    resolveHost: async (host) => {
      asked.push(host);
      return answer;
    },
  });
  await eventually('a stream to each replica', () => [sA, sB].map((s) => s.server.proxy('c') !== undefined), { accept: (up) => up.every(Boolean) });
  assert.equal(asked[0], 'keyway-replicas.keyway-system.svc.cluster.local', 'the HOST of the target is looked up');
  // Links are in sorted address order: the first up is the source.
  const [first, second] = [sA, sB].sort((x, y) => (x.address < y.address ? -1 : 1)) as [typeof sA, typeof sB];
  const sizeOf = (s: typeof sA) => (s === sA ? 5 : 6);
  await eventually('assignments from the first replica', () => a.assignments().size, { accept: (n) => n === sizeOf(first) });

  answer = [second.address];
  await eventually('the link to the replica gone from DNS is closed', () => first.server.proxy('c'), { accept: (p) => p === undefined });
  await eventually('assignments from the replica left', () => a.assignments().size, { accept: (n) => n === sizeOf(second) });
  assert.ok(second.server.proxy('c'), 'the remaining stream stays open');
  assert.ok(a.connected());
});

test('an address both listed and resolved gets one stream', async (t) => {
  const fake = await startFakeKeyway(() => {});
  t.after(() => fake.close());
  let calls = 0;
  agent(t, {
    servers: [fake.address, NAME],
    resolveHost: async () => {
      calls++;
      return [fake.address, fake.address];
    },
  });
  await eventually('resolved a few times', () => calls, { accept: (n) => n >= 3 });
  assert.equal(fake.streams, 1);
});

test('a replica added later is sent the shards warmed that it gives as WARMING, each named by its deadline; one that stopped warming is not', async (t) => {
  const state = new ServingState();
  state.publish(view({ transitions: [move0, move4], drains: [] }));
  const r1: WarmReport[] = [];
  const r2: WarmReport[] = [];
  const [s1, s2] = [await stage(t, state, r1), await stage(t, state, r2)];
  let answer = [s1.address];
  const logs: Record<string, unknown>[] = [];
  const a = agent(t, { resolveHost: async () => answer, warm: async () => {}, log: (r) => logs.push(r) });
  await eventually('the first replica got the report', () => r1, { accept: (r) => r.length === 1 });
  assert.deepEqual(r1, [{ node: 'c', shards: [], moves: [{ shard: 0, untilUnixMs: move0.deadline }, { shard: 4, untilUnixMs: move4.deadline }] }]);
  // Shard 4's move is cancelled: c no longer warms it.
  state.publish(view({ transitions: [move0], drains: [] }));
  await eventually('shard 4 left', () => a.assignments().has(4), { accept: (has) => !has });
  assert.equal(a.assignments().get(0)?.phase, 'warming');

  answer = [s1.address, s2.address];
  await eventually('the new replica got the report of the shard still warming', () => r2, { accept: (r) => r.length === 1 });
  assert.deepEqual(r2, [{ node: 'c', shards: [], moves: [{ shard: 0, untilUnixMs: move0.deadline }] }]);
  assert.ok(s2.server.proxy('c'), 'and a stream');
  await sleep(100);
  assert.equal(r1.length, 1, 'the first replica is not told again');
  assert.ok(logs.some((l) => l.msg === 'keyway replicas changed' && (l.added as string[]).join() === s2.address));
});

test('a failed resolution keeps the links, logs each distinct failure once, and a name not found at start is retried', async (t) => {
  const state = new ServingState();
  state.publish(view());
  const [s1, s2] = [await stage(t, state), await stage(t, state)];
  let mode: 'ENOTFOUND' | 'ok' | 'EAI_AGAIN' | 'empty' = 'ENOTFOUND';
  let calls = 0;
  const logs: Record<string, unknown>[] = [];
  const failures = () => logs.filter((l) => l.msg === 'resolving keyway replicas failed; keeping the current links (logged once until it changes)');
  // keyway not deployed yet: the constructor and start() do not throw.
  const a = agent(t, {
    log: (r) => logs.push(r),
    resolveHost: async (host) => {
      calls++;
      if (mode === 'ok') return [s1.address, s2.address];
      if (mode === 'empty') return [];
      throw Object.assign(new Error(`getaddrinfo ${mode} ${host}`), { code: mode });
    },
  });
  await eventually('retried', () => calls, { accept: (n) => n >= 4 });
  assert.equal(failures().length, 1, 'logged once');
  assert.equal(failures()[0]!.err, `getaddrinfo ENOTFOUND keyway-replicas.keyway-system.svc.cluster.local`);
  assert.equal(a.connected(), false);

  mode = 'ok';
  await eventually('both streams open', () => [s1, s2].every((s) => s.server.proxy('c') !== undefined));
  await eventually('assignments', () => a.assignments().size, { accept: (n) => n === 5 });
  assert.ok(logs.some((l) => l.msg === 'keyway replicas resolve again'));

  for (const next of ['EAI_AGAIN', 'empty'] as const) {
    mode = next;
    const from = calls;
    await eventually(`${next} retried`, () => calls, { accept: (n) => n >= from + 4 });
    assert.ok([s1, s2].every((s) => s.server.proxy('c') !== undefined), `${next}: both links kept`);
    assert.ok(a.connected());
    assert.equal(a.assignments().size, 5);
  }
  assert.deepEqual(failures().map((l) => l.err), [
    'getaddrinfo ENOTFOUND keyway-replicas.keyway-system.svc.cluster.local',
    'getaddrinfo EAI_AGAIN keyway-replicas.keyway-system.svc.cluster.local',
    'resolves to no address',
  ]);
});

test('a link to a resolved address that fails re-resolves the name soon, not at the next refresh', async (t) => {
  const state = new ServingState();
  state.publish(view());
  const [s1, s2] = [await stage(t, state), await stage(t, state)];
  let answer = [s1.address];
  let calls = 0;
  const a = agent(t, {
    timing: { dnsRefreshMs: 600_000 },
    resolveHost: async () => {
      calls++;
      return answer;
    },
  });
  await eventually('connected', () => a.assignments().size, { accept: (n) => n === 5 });
  // A failure right after a resolution does not resolve again: wait until it is old enough.
  await sleep(RERESOLVE_MIN_AGE_MS + 100);
  assert.equal(calls, 1);
  answer = [s2.address];
  await s1.close();
  await eventually('resolved again and linked to the new replica', () => s2.server.proxy('c'), { accept: (p) => p !== undefined, timeoutMs: 3_000 });
  assert.equal(calls, 2);
  await eventually('assignments from it', () => a.connected() && a.assignments().size === 5);
});

test('servers: only dns:///HOST:PORT (empty authority, a port in 1..65535) is a name; dnsRefreshMs is checked like the other timings', () => {
  const make = (servers: string[], timing = {}) => () => new OwnershipAgent({ nodeId: 'n', servers, timing });
  for (const bad of ['dns://8.8.8.8/keyway:18000', 'dns:keyway:18000', 'dns:///keyway', 'dns:///keyway:0', 'dns:///keyway:65536', 'dns:///:18000']) {
    assert.throws(make([bad]), new RegExp(`servers: ${JSON.stringify(bad).replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')} is not dns:///HOST:PORT`), bad);
  }
  assert.throws(make(['keyway']), /servers: "keyway" is not host:port or dns:\/\/\/HOST:PORT/);
  assert.throws(make([NAME], { dnsRefreshMs: 0 }), /timing\.dnsRefreshMs must be a whole number of ms from 1 to 2147483647, got 0/);
  assert.throws(make([NAME], { dnsRefreshMs: Infinity }), /timing\.dnsRefreshMs/);
  assert.doesNotThrow(make([NAME, 'dns:///[::1]:18000', '127.0.0.1:18000']));
});

test('TLS to a resolved address checks the certificate against the name, not the address', { skip: opensslSkipReason() ?? false }, async (t) => {
  const pki = makePki();
  t.after(() => pki.cleanup());
  const ca = pki.ca('ca');
  // The certificate names the headless Service only, as a cluster's would; it has no IP SAN.
  const serverCert = ca.issue('keyway', { cn: 'keyway', dns: ['keyway-replicas.keyway-system.svc.cluster.local'] });
  const state = new ServingState();
  state.publish(view());
  const s = await startXdsStage({ state, logger: pino({ level: 'silent' }), xdsPort: 0, host: '127.0.0.1' }, { tls: { certFile: serverCert.cert, keyFile: serverCert.key } });
  t.after(() => s.close());
  const a = agent(t, {
    servers: [NAME.replace(':18000', `:${s.server.port}`)],
    resolveHost: async () => ['127.0.0.1'],
    credentials: credentials.createSsl(readFileSync(ca.cert)),
  });
  await eventually('assignments over TLS', () => a.assignments().size, { accept: (n) => n === 5 });
});

test('an address gone from DNS keeps its assignments for dropAfterMs, as a failed stream does, then drops them', async (t) => {
  const state = new ServingState();
  state.publish(view());
  const old = await stage(t, state);
  // Its successor accepts the stream but has not answered yet (still starting).
  const successor = await startFakeKeyway(() => {});
  t.after(() => successor.close());
  let answer = [old.address];
  const logs: Record<string, unknown>[] = [];
  const sizes: number[] = [];
  const a = agent(t, {
    timing: { dropAfterMs: 800 },
    resolveHost: async () => answer,
    log: (r) => logs.push(r),
    onChange: (m) => sizes.push(m.size),
  });
  await eventually('assignments from the old replica', () => a.assignments().size, { accept: (n) => n === 5 });

  answer = [successor.address];
  await eventually('the old replica\'s stream is closed', () => old.server.proxy('c'), { accept: (p) => p === undefined });
  await eventually('the successor has a stream', () => successor.streams, { accept: (n) => n >= 1 });
  assert.equal(a.assignments().size, 5, 'kept through the grace');
  assert.ok(!sizes.includes(0), 'never told it holds nothing');
  await eventually('dropped after the grace', () => a.assignments().size, { accept: (n) => n === 0, timeoutMs: 3_000 });
  assert.ok(logs.some((l) => l.msg === 'ownership stream down too long; its assignments are dropped' && l.server === old.address));
  assert.equal(old.server.proxy('c'), undefined, 'and not reconnected');
});

test('an address back in DNS within the grace reconnects its link, and its assignments are not dropped', async (t) => {
  const state = new ServingState();
  state.publish(view());
  const replica = await stage(t, state);
  const silent = await startFakeKeyway(() => {});
  t.after(() => silent.close());
  let answer = [replica.address];
  const logs: Record<string, unknown>[] = [];
  // Longer than STREAM_SETTLE_MS: a resumed stream keyway has nothing new for counts as up after it.
  const sizes: number[] = [];
  const a = agent(t, { timing: { dropAfterMs: 1_500 }, resolveHost: async () => answer, log: (r) => logs.push(r), onChange: (m) => sizes.push(m.size) });
  await eventually('assignments', () => a.assignments().size, { accept: (n) => n === 5 });
  answer = [silent.address];
  await eventually('the stream is closed', () => replica.server.proxy('c'), { accept: (p) => p === undefined });
  answer = [replica.address, silent.address];
  await eventually('the link reconnects', () => replica.server.proxy('c'), { accept: (p) => p !== undefined });
  await eventually('up again', () => a.connected());
  await sleep(1_700);
  assert.equal(a.assignments().size, 5);
  assert.ok(!sizes.includes(0), 'never told it holds nothing');
  assert.ok(!logs.some((l) => l.msg === 'ownership stream down too long; its assignments are dropped'), 'nothing dropped');
});
