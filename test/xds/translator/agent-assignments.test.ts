// The ownership stream's resources (docs/ownership.md "Resources" and "Phases"): what each cache
// node's agent is told, from a hand-made routed map and handoff state.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { HandoffState } from '../../../src/core/handoff.js';
import {
  agentAssignments,
  checkConsistency,
  effectiveProxyClass,
  resourceToJson,
  translate,
  type TranslatorInput,
} from '../../../src/xds/translator/index.js';
import { classifyProxy, proxyClassKey, type ProxyClass } from '../../../src/xds/resources.js';
import { endpoint, handInput } from './fixtures.js';

const nodes = [endpoint('a', '10.0.0.1'), endpoint('b', '10.0.0.2', { port: 9090 }), endpoint('c', '10.0.0.3'), endpoint('d', '10.0.0.4')];

/** 12 shards, so names "10" and "11" sort before "2" (code-unit order). Routed owners, primary first. */
function routed(): TranslatorInput {
  const owners = Array.from({ length: 12 }, (_, s) => (s % 2 === 0 ? ['a', 'b'] : ['b', 'c']));
  return handInput(nodes, owners);
}

function withHandoff(input: TranslatorInput, handoff: Omit<HandoffState, 'target' | 'started' | 'completed' | 'enabled'>): TranslatorInput {
  return { ...input, handoff: { enabled: true, target: input.shardMap, started: [], completed: [], ...handoff } };
}

const json = (input: TranslatorInput, node: string): Record<string, unknown>[] =>
  agentAssignments(input, node).resources.map((r) => ({ name: r.name, ...(resourceToJson(r) as Record<string, unknown>) }));

test('a node is told every shard it owns: PRIMARY (a reader) or REPLICA (a backup), SERVING, sorted by name as strings', () => {
  const a = json(routed(), 'a');
  assert.deepEqual(a.map((r) => r.name), ['0', '10', '2', '4', '6', '8']);
  assert.deepEqual(a[0], { name: '0', shardCount: 12, role: 'PRIMARY', phase: 'SERVING', reader: true }, 'ProtoJSON leaves out shard 0');
  const b = json(routed(), 'b');
  assert.deepEqual(b.map((r) => r.name), ['0', '1', '10', '11', '2', '3', '4', '5', '6', '7', '8', '9']);
  assert.deepEqual(b[0], { name: '0', shardCount: 12, role: 'REPLICA', phase: 'SERVING' }, 'a backup replica: reader false, left out');
  assert.deepEqual(b[1], { name: '1', shard: 1, shardCount: 12, role: 'PRIMARY', phase: 'SERVING', reader: true });
  assert.deepEqual(json(routed(), 'd'), [], 'a node owning nothing gets nothing');
  assert.deepEqual(json(routed(), 'nobody'), []);
});

test('the warming node gets WARMING with the routed owners as peers and the deadline; WARMING wins over its own replica role', () => {
  const input = withHandoff(routed(), {
    transitions: [
      { shard: 3, from: ['b', 'c'], to: ['c', 'd'], warming: 'c', startedAt: 1_000, deadline: 31_000 },
      { shard: 4, from: ['a', 'b'], to: ['d', 'a'], warming: 'd', startedAt: 2_000, deadline: 32_000 },
    ],
    drains: [],
  });
  const c = json(input, 'c').find((r) => r.name === '3');
  assert.deepEqual(c, {
    name: '3',
    shard: 3,
    shardCount: 12,
    role: 'PRIMARY',
    phase: 'WARMING',
    servingOwners: [
      { id: 'b', address: '10.0.0.2', port: 9090 },
      { id: 'c', address: '10.0.0.3', port: 8080 },
    ],
    untilUnixMs: '31000',
  });
  assert.deepEqual(json(input, 'd'), [
    {
      name: '4',
      shard: 4,
      shardCount: 12,
      role: 'PRIMARY',
      phase: 'WARMING',
      servingOwners: [
        { id: 'a', address: '10.0.0.1', port: 8080 },
        { id: 'b', address: '10.0.0.2', port: 9090 },
      ],
      untilUnixMs: '32000',
    },
  ]);
  // The routed owners keep serving while the new primary warms.
  assert.equal(json(input, 'a').find((r) => r.name === '4')?.phase, 'SERVING');
});

test('a drain is told as DRAINING until its end, unless the node is otherwise assigned the shard', () => {
  const input = withHandoff(routed(), {
    transitions: [],
    drains: [
      { shard: 5, node: 'd', until: 50_000 },
      { shard: 6, node: 'a', until: 60_000 }, // a still owns shard 6 in the routed map: SERVING wins
    ],
  });
  assert.deepEqual(json(input, 'd'), [{ name: '5', shard: 5, shardCount: 12, role: 'PRIMARY', phase: 'DRAINING', untilUnixMs: '50000' }]);
  assert.equal(json(input, 'a').find((r) => r.name === '6')?.phase, 'SERVING');
});

test('an agent class carries its node id: one snapshot per node, locality ignored; Envoy and gRPC get no assignments', () => {
  const agent = classifyProxy({ id: 'c', userAgentName: 'keyway-agent', locality: { zone: 'z1', subZone: 'n1' } });
  assert.deepEqual(agent, { flavor: 'agent', zone: 'z1', subzone: 'n1', node: 'c' });
  const served = effectiveProxyClass(agent);
  assert.deepEqual(served, { flavor: 'agent', zone: '', subzone: '', node: 'c' });
  assert.notEqual(proxyClassKey(served), proxyClassKey(effectiveProxyClass({ ...agent, node: 'd' })));
  assert.equal(proxyClassKey({ flavor: 'envoy', zone: '', subzone: '' }), 'envoy||', 'Envoy keys are unchanged');

  const set = translate(routed(), served);
  assert.deepEqual([set.cluster, set.endpoint, set.listener, set.route].map((l) => l.length), [0, 0, 0, 0]);
  assert.equal(set.assignment?.length, 6);
  assert.deepEqual(checkConsistency(set), []);
  for (const flavor of ['envoy', 'grpc'] as const) {
    const other = translate(routed(), { flavor, zone: '', subzone: '' } as ProxyClass);
    assert.equal(other.assignment, undefined, `${flavor} gets no assignment`);
  }
});

test('equal views give the same resource objects (computed once per view), and the check catches a bad assignment', () => {
  const input = routed();
  assert.equal(agentAssignments(input, 'b').resources, agentAssignments(input, 'b').resources);
  const set = translate(input, { flavor: 'agent', zone: '', subzone: '', node: 'a' });
  const reversed = { ...set, assignment: [...set.assignment!].reverse() };
  assert.ok(checkConsistency(reversed).some((p) => p.includes('not sorted')));
  const wrongName = { ...set, assignment: [{ ...set.assignment![0]!, name: '7' }] };
  assert.ok(checkConsistency(wrongName).some((p) => p.includes('calls itself')));
});

test('a hot shard read by more owners than R: readers beyond the primary are REPLICA, SERVING, reader; the owners after them are not readers', () => {
  const input = routed();
  const owners = input.shardMap.owners.map((o, s) => (s === 3 ? ['b', 'c', 'd'] : o));
  const hot: TranslatorInput = { ...input, shardMap: { ...input.shardMap, version: 'hot', owners, readers: new Map([[3, 3]]) } };
  const d = json(hot, 'd');
  assert.deepEqual(d, [{ name: '3', shard: 3, shardCount: 12, role: 'REPLICA', phase: 'SERVING', reader: true }]);
  assert.equal(json(hot, 'b').find((r) => r.name === '3')?.role, 'PRIMARY');
  // Two readers of three owners: the third owner only backs the shard up.
  const two: TranslatorInput = { ...input, shardMap: { ...input.shardMap, version: 'hot-2', owners, readers: new Map([[3, 2]]) } };
  assert.deepEqual(json(two, 'd'), [{ name: '3', shard: 3, shardCount: 12, role: 'REPLICA', phase: 'SERVING' }]);
  assert.equal(json(two, 'c').find((r) => r.name === '3')?.reader, true);
});

test('a new view keeps the resource objects of every node whose assignments did not change, and equals a fresh build', () => {
  const before = routed();
  // Shard 3 moves from (b, c) to (d, c): b and d change, a and c do not (c stays REPLICA of it).
  const after = handInput(nodes, before.shardMap.owners.map((o, s) => (s === 3 ? ['d', 'c'] : [...o])));
  const earlier = new Map(['a', 'b', 'c', 'd'].map((n) => [n, agentAssignments(before, n).resources]));
  const now = new Map(['a', 'b', 'c', 'd'].map((n) => [n, agentAssignments(after, n).resources]));
  assert.equal(now.get('a'), earlier.get('a'), 'a: unchanged, same objects');
  assert.equal(now.get('c'), earlier.get('c'), 'c: unchanged, same objects');
  assert.notEqual(now.get('b'), earlier.get('b'), 'b lost shard 3');
  assert.notEqual(now.get('d'), earlier.get('d'), 'd gained shard 3');
  // Built after an unrelated view (nothing to reuse), the same map gives byte-equal resources.
  agentAssignments(handInput([endpoint('x', '10.0.0.9')], [['x']]), 'x');
  const fresh = handInput(nodes, after.shardMap.owners.map((o) => [...o]));
  for (const n of ['a', 'b', 'c', 'd']) {
    assert.deepEqual(json(fresh, n), json(after, n), n);
    assert.notEqual(agentAssignments(fresh, n).resources, now.get(n), `${n}: a fresh build, new objects`);
  }
  // A change of S changes every assignment's shard_count: nothing is reused.
  const wider = handInput(nodes, [...after.shardMap.owners.map((o) => [...o]), ['a', 'b']]);
  assert.notEqual(agentAssignments(wider, 'c').resources, agentAssignments(fresh, 'c').resources);
  assert.equal(json(wider, 'c')[0]!.shardCount, 13);
});

test('a view that changes one field of one assignment gives that node new objects equal to a fresh build, and keeps the others', () => {
  const t3 = { shard: 3, from: ['b', 'c'], to: ['c', 'd'], warming: 'c', startedAt: 1_000, deadline: 31_000 };
  const base = { owners: routed().shardMap.owners.map((o) => [...o]), peers: nodes, transitions: [t3], drains: [{ shard: 5, node: 'd', until: 40_000 }] };
  type Step = typeof base;
  const steps: [string, (s: Step) => Step, string][] = [
    ['a deadline', (s) => ({ ...s, transitions: [{ ...t3, deadline: 32_000 }] }), 'c'],
    ["a peer's address", (s) => ({ ...s, peers: s.peers.map((e) => (e.id === 'b' ? { ...e, address: '10.0.0.22' } : e)) }), 'c'],
    ["a peer's port", (s) => ({ ...s, peers: s.peers.map((e) => (e.id === 'b' ? { ...e, port: 9091 } : e)) }), 'c'],
    ["a drain's end", (s) => ({ ...s, drains: [{ shard: 5, node: 'd', until: 41_000 }] }), 'd'],
    ['a role', (s) => ({ ...s, owners: s.owners.map((o, i) => (i === 0 ? [...o].reverse() : o)) }), 'a'],
  ];
  const view = (s: Step) => withHandoff(handInput(s.peers, s.owners), { transitions: s.transitions, drains: s.drains });
  for (const [what, change, node] of steps) {
    const before = view(base);
    const earlier = new Map(['a', 'b', 'c', 'd'].map((n) => [n, agentAssignments(before, n).resources]));
    const after = view(change(base));
    const kept = new Map(['a', 'b', 'c', 'd'].map((n) => [n, json(after, n)]));
    for (const n of ['a', 'b', 'c', 'd']) {
      const same = agentAssignments(after, n).resources === earlier.get(n);
      if (n === node) assert.ok(!same, `${what}: ${n} gets new objects`);
    }
    agentAssignments(handInput([endpoint('x', '10.9.9.9')], [['x']]), 'x'); // forgets them
    const fresh = view(change(base));
    for (const n of ['a', 'b', 'c', 'd']) assert.deepEqual(kept.get(n), json(fresh, n), `${what}: node ${n}`);
  }
});
