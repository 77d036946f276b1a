// waitForHandoff with several replicas (docs/ownership.md "The agent library"): each replica flips
// and drains on its own clock and reports (docs/ownership.md "Replicas agree"), so a node is handed
// off only once every replica whose stream is up says so, not the first one alone.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { OwnershipAgent } from '../../src/agent/index.js';
import { eventually } from '../support/eventually.js';
import { assignmentsResponse, decodeRequest, startFakeKeyway, type RawStream } from './fake-keyway.js';

const FAST = { backoffInitialMs: 20, backoffMaxMs: 100 };
const DRAINING = { phase: 3, untilUnixMs: BigInt(Date.now() + 60_000) } as const;

test('waitForHandoff waits for every replica up: one still routing a shard to the node (SERVING) holds it back', async (t) => {
  const drained = await startFakeKeyway((call) => {
    call.on('error', () => {});
    call.write(assignmentsResponse([1, 2], 8, 'a1', DRAINING));
  });
  let lagging: RawStream | undefined;
  const acked: string[] = [];
  const behind = await startFakeKeyway((call) => {
    call.on('error', () => {});
    call.on('data', (b: Buffer) => acked.push(decodeRequest(b).responseNonce));
    lagging = call;
    call.write(assignmentsResponse([1, 2], 8, 'b1'));
  });
  t.after(() => Promise.all([drained.close(), behind.close()]));
  // The replica that drained is first: its assignments are the ones exposed.
  const agent = new OwnershipAgent({ nodeId: 'n', servers: [drained.address, behind.address], timing: FAST });
  t.after(() => agent.close());
  agent.start();
  await eventually('the first replica\'s answer is exposed', () => agent.assignments().get(1)?.phase === 'draining');
  await eventually('the second replica\'s answer is applied (ACKed)', () => acked.includes('b1'));
  assert.equal(await agent.waitForHandoff(500), false, 'the second replica still routes shards 1 and 2 to the node');
  const waiting = agent.waitForHandoff(10_000);
  lagging!.write(assignmentsResponse([1, 2], 8, 'b2', DRAINING));
  assert.equal(await waiting, true);
});

test('a replica that is down does not hold the handoff back', async (t) => {
  const drained = await startFakeKeyway((call) => {
    call.on('error', () => {});
    call.write(assignmentsResponse([1], 8, 'a1', DRAINING));
  });
  const behind = await startFakeKeyway((call, n) => {
    call.on('error', () => {});
    if (n > 1) return call.emit('error', { code: 14, details: 'down' });
    call.write(assignmentsResponse([1], 8, 'b1'));
    setTimeout(() => call.emit('error', { code: 14, details: 'gone' }), 300);
  });
  t.after(() => Promise.all([drained.close(), behind.close()]));
  const agent = new OwnershipAgent({ nodeId: 'n', servers: [drained.address, behind.address], timing: FAST });
  t.after(() => agent.close());
  agent.start();
  await eventually('the second replica answered', () => behind.streams >= 1 && agent.connected());
  assert.equal(await agent.waitForHandoff(10_000), true);
});
