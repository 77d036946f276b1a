// What a reconnecting agent announces in initial_resource_versions (docs/ownership.md
// "Reconnects"), against a fake keyway that refuses announcements over its names cap as keyway
// does (RESOURCE_EXHAUSTED, docs/security.md "Names per subscription").
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { status } from '@grpc/grpc-js';
import { OwnershipAgent } from '../../src/agent/index.js';
import { eventually } from '../support/eventually.js';
import { assignmentsResponse, decodeRequest, refuse, startFakeKeyway, type RawStream } from './fake-keyway.js';

const FAST = { backoffInitialMs: 20, backoffMaxMs: 100 };
const range = (from: number, to: number): number[] => Array.from({ length: to - from }, (_, i) => from + i);

/** A fake keyway whose streams answer `answers[n - 1]` (the last one for later streams) and end after it unless it is the last; over `cap` announced names it refuses. */
function capped(cap: number, answers: number[][], S: number, announced: number[]) {
  return (call: RawStream, n: number): void => {
    call.on('error', () => {});
    call.once('data', (b: Buffer) => {
      const names = Object.keys(decodeRequest(b).initialResourceVersions).length;
      announced.push(names);
      if (names > cap) return refuse(call, status.RESOURCE_EXHAUSTED, `LIMIT_EXCEEDED: the assignment subscription of ${names} names exceeds the limit of ${cap} names per type and stream`);
      const answer = answers[Math.min(n, answers.length) - 1]!;
      call.write(assignmentsResponse(answer, S, `n${n}`));
      if (n < answers.length) setTimeout(() => refuse(call, status.UNAVAILABLE, 'connection reset'), 50);
    });
  };
}

test('a node holding more assignments than keyway lets a stream announce reconnects: it announces none and takes keyway\'s first answer as the whole set', async (t) => {
  const announced: number[] = [];
  const fake = await startFakeKeyway(capped(100_000, [range(0, 100_001), range(1, 100_002)], 131_072, announced));
  t.after(() => fake.close());
  const agent = new OwnershipAgent({ nodeId: 'a', servers: [fake.address], timing: FAST });
  t.after(() => agent.close());
  agent.start();
  await eventually('the second answer is held', () => agent.assignments().has(100_001), { timeoutMs: 20_000, describe: () => announced });
  assert.equal(agent.assignments().size, 100_001);
  assert.equal(agent.assignments().has(0), false, 'shard 0, not in keyway\'s answer, is gone');
  assert.deepEqual(announced, [0, 0], 'no stream was refused');
});

test('refused RESOURCE_EXHAUSTED after announcing (a keyway with a lower names cap), the next stream announces none and resyncs', async (t) => {
  const announced: number[] = [];
  const fake = await startFakeKeyway(capped(2, [[0, 1, 2], [1, 2, 5]], 8, announced));
  t.after(() => fake.close());
  const agent = new OwnershipAgent({ nodeId: 'a', servers: [fake.address], timing: FAST });
  t.after(() => agent.close());
  agent.start();
  await eventually('resynced', () => [...agent.assignments().keys()].sort().join(), { accept: (k) => k === '1,2,5', describe: () => announced });
  assert.deepEqual(announced, [0, 3, 0]);
});

test('a resyncing answer that is NACKed still removes what keyway no longer lists: keyway counts the rejected set as held and never removes the rest', async (t) => {
  const announced: number[] = [];
  const invalid = { phase: 0 } as const; // PHASE_UNSPECIFIED: the agent NACKs the whole response
  let third: RawStream | undefined;
  const fake = await startFakeKeyway((call, n) => {
    call.on('error', () => {});
    call.once('data', (b: Buffer) => {
      announced.push(Object.keys(decodeRequest(b).initialResourceVersions).length);
      if (n === 1) {
        call.write(assignmentsResponse([0, 1, 2], 8, 'n1'));
        setTimeout(() => refuse(call, status.UNAVAILABLE, 'connection reset'), 50);
      } else if (n === 2) {
        refuse(call, status.RESOURCE_EXHAUSTED, 'LIMIT_EXCEEDED: the assignment subscription of 3 names exceeds the limit of 2 names per type and stream');
      } else {
        third = call;
        // keyway's whole set (shard 0 is gone), rejected by the agent.
        call.write(assignmentsResponse([1, 2, 5], 8, 'n3', invalid));
      }
    });
  });
  t.after(() => fake.close());
  const logs: Record<string, unknown>[] = [];
  const agent = new OwnershipAgent({ nodeId: 'a', servers: [fake.address], timing: FAST, log: (r) => logs.push(r) });
  t.after(() => agent.close());
  agent.start();
  await eventually('the resyncing answer was NACKed', () => logs.some((l) => l.msg === 'assignments rejected (NACK)'), { describe: () => announced });
  assert.deepEqual(announced, [0, 3, 0]);
  // keyway now holds the node at {1, 2, 5} and sends only what changes.
  third!.write(assignmentsResponse([5], 8, 'n4'));
  await eventually('shard 5 applied', () => agent.assignments().has(5));
  assert.deepEqual([...agent.assignments().keys()].sort(), [1, 2, 5], 'shard 0 is not held for ever');
});
