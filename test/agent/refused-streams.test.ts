// A keyway replica (or the sidecar in front of it) that ends every new ownership stream at once:
// the agent's channel is connected, yet no stream lasts, so the replica is down for the agent.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { status } from '@grpc/grpc-js';
import { OwnershipAgent } from '../../src/agent/index.js';
import { eventually } from '../support/eventually.js';
import { assignmentsResponse, startFakeKeyway, type RawStream } from './fake-keyway.js';

const FAST = { backoffInitialMs: 20, backoffMaxMs: 100, reportRetryMs: 20 };

/** Answers `shards` on the first stream and ends it after `lifeMs`; refuses every later stream at once (UNAVAILABLE, as Envoy's 503). */
function answerThenRefuse(shards: number[], lifeMs: number) {
  let refusing = false;
  const stream = (call: RawStream, n: number): void => {
    call.on('error', () => {});
    if (n > 1 && refusing) {
      call.emit('error', { code: status.UNAVAILABLE, details: 'upstream connect error' });
      return;
    }
    call.once('data', () => {
      call.write(assignmentsResponse(shards, 8, 'n1'));
      setTimeout(() => {
        refusing = true;
        call.emit('error', { code: status.UNAVAILABLE, details: 'upstream reset' });
      }, lifeMs);
    });
  };
  return stream;
}

test('a replica that refuses every stream after an outage is down: its assignments drop after dropAfterMs and lastConnectedMs stays', async (t) => {
  const fake = await startFakeKeyway(answerThenRefuse([0, 3], 100));
  t.after(() => fake.close());
  const agent = new OwnershipAgent({ nodeId: 'a', servers: [fake.address], timing: { ...FAST, dropAfterMs: 400 } });
  t.after(() => agent.close());
  agent.start();
  await eventually('assignments', () => agent.assignments().size, { accept: (n) => n === 2 });
  await eventually('the stream ended', () => !agent.connected());
  const downAt = agent.lastConnectedMs()!;
  await eventually('the replica keeps refusing', () => fake.streams, { accept: (n) => n >= 4 });
  await eventually('dropped after dropAfterMs of refusals', () => agent.assignments().size, { accept: (n) => n === 0, timeoutMs: 3_000 });
  assert.equal(agent.lastConnectedMs(), downAt, 'a refused stream is no time up');
});

test('two replicas, the first refusing every stream: the node is told the second\'s assignments once, not flipped back at every retry', async (t) => {
  const refusing = await startFakeKeyway(answerThenRefuse([0, 3], 100));
  const healthy = await startFakeKeyway((call) => {
    call.on('error', () => {});
    call.once('data', () => call.write(assignmentsResponse([5], 8, 'h1')));
  });
  t.after(() => Promise.all([refusing.close(), healthy.close()]));
  const seen: string[] = [];
  const agent = new OwnershipAgent({ nodeId: 'a', servers: [refusing.address, healthy.address], timing: FAST, onChange: (m) => seen.push([...m.keys()].join()) });
  t.after(() => agent.close());
  agent.start();
  await eventually('the first replica refuses', () => refusing.streams, { accept: (n) => n >= 2 });
  const from = seen.length;
  await eventually('several refusals', () => refusing.streams, { accept: (n) => n >= 8 });
  await sleep(50);
  assert.equal([...agent.assignments().keys()].join(), '5', "the healthy replica's");
  assert.deepEqual(seen.slice(from), [], 'no change while the first replica keeps refusing');
});

test('a resumed stream keyway has nothing to send for counts as up once it stays open: it ends the outage, nothing is dropped', async (t) => {
  const fake = await startFakeKeyway((call, n) => {
    call.on('error', () => {});
    // The first stream is answered and ends; the second is taken and stays silent (the node is in sync).
    if (n === 1) call.once('data', () => {
      call.write(assignmentsResponse([0, 3], 8, 'n1'));
      setTimeout(() => call.emit('error', { code: status.UNAVAILABLE, details: 'connection reset' }), 50);
    });
  });
  t.after(() => fake.close());
  const agent = new OwnershipAgent({ nodeId: 'a', servers: [fake.address], timing: { ...FAST, dropAfterMs: 1_500 } });
  t.after(() => agent.close());
  agent.start();
  await eventually('assignments', () => agent.assignments().size, { accept: (n) => n === 2 });
  await eventually('resumed', () => fake.streams === 2 && !agent.connected());
  await eventually('up again, unanswered', () => agent.connected(), { timeoutMs: 3_000 });
  await sleep(1_700);
  assert.equal(agent.assignments().size, 2, 'kept past dropAfterMs');
});
