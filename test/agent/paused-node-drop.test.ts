// A cache node paused (SIGSTOP, a throttled cgroup, a VM live migration) while its stream to keyway
// was down: the time it did not run does not count toward dropAfterMs. On resume its timers run
// before any answer is read: the reconnect fires, then the overdue drop, which emptied the node's
// assignments (onChange with none: a node may release what it caches) just before keyway's answer
// on the new stream restored them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { status } from '@grpc/grpc-js';
import { OwnershipAgent } from '../../src/agent/index.js';
import type { Assignment } from '../../src/agent/index.js';
import { eventually } from '../support/eventually.js';
import { assignmentsResponse, startFakeKeyway } from './fake-keyway.js';

/** Blocks the thread, as a stopped process: timers fall due, bytes wait in the sockets. */
function stop(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

test('a node resumed after dropAfterMs with its stream down keeps its assignments while the reconnect answers', async (t) => {
  let keywayUp = true;
  const fake = await startFakeKeyway((call, n) => {
    call.on('error', () => {});
    call.once('data', () => {
      // While "down", keyway refuses every stream, as a replica restarting does.
      if (!keywayUp) return void call.emit('error', { code: status.UNAVAILABLE, details: 'restarting' });
      call.write(assignmentsResponse([0, 3], 8, `n${n}`));
      if (n === 1) setTimeout(() => call.emit('error', { code: status.UNAVAILABLE, details: 'connection reset' }), 50);
    });
  });
  t.after(() => fake.close());
  const seen: number[] = [];
  const agent = new OwnershipAgent({
    nodeId: 'a',
    servers: [fake.address],
    timing: { backoffInitialMs: 20, backoffMaxMs: 100, reportRetryMs: 20, dropAfterMs: 1_000 },
    onChange: (a: ReadonlyMap<number, Assignment>) => void seen.push(a.size),
  });
  t.after(() => agent.close());
  agent.start();
  await eventually('assignments', () => agent.assignments().size, { accept: (n) => n === 2 });
  keywayUp = false;
  await eventually('the first stream ended', () => (!agent.connected() ? true : undefined));
  // keyway is back; the node is stopped before it could notice, for longer than dropAfterMs. On
  // resume the drop waits at most dropAfterMs more (1 s here: room for the reconnect on a loaded machine).
  keywayUp = true;
  await new Promise<void>((resolve) => setImmediate(() => (stop(2_800), resolve())));
  await eventually('up again', () => (agent.connected() ? true : undefined), { timeoutMs: 5_000 });
  await eventually('the assignments', () => agent.assignments().size, { accept: (n) => n === 2 });
  assert.ok(!seen.includes(0), `the node was never told it holds nothing (sizes told: ${seen.join(', ')})`);
});

test('a node resumed after a long pause with keyway still down drops within dropAfterMs of running, not the pause again', async (t) => {
  let keywayUp = true;
  const fake = await startFakeKeyway((call, n) => {
    call.on('error', () => {});
    call.once('data', () => {
      if (!keywayUp) return void call.emit('error', { code: status.UNAVAILABLE, details: 'restarting' });
      call.write(assignmentsResponse([0, 3], 8, `n${n}`));
      if (n === 1) setTimeout(() => call.emit('error', { code: status.UNAVAILABLE, details: 'connection reset' }), 50);
    });
  });
  t.after(() => fake.close());
  let droppedAt: number | undefined;
  const agent = new OwnershipAgent({
    nodeId: 'a',
    servers: [fake.address],
    timing: { backoffInitialMs: 20, backoffMaxMs: 100, reportRetryMs: 20, dropAfterMs: 300 },
    onChange: (a: ReadonlyMap<number, Assignment>) => void (a.size === 0 && droppedAt === undefined && (droppedAt = performance.now())),
  });
  t.after(() => agent.close());
  agent.start();
  await eventually('assignments', () => agent.assignments().size, { accept: (n) => n === 2 });
  keywayUp = false;
  await eventually('the first stream ended', () => (!agent.connected() ? true : undefined));
  // Stopped for 4 s (a suspended VM) while keyway stays down: on resume the node has run about
  // as long as before the pause with the link down, so the drop waits at most dropAfterMs more.
  let resumedAt = 0;
  await new Promise<void>((resolve) => setImmediate(() => (stop(4_000), (resumedAt = performance.now()), resolve())));
  await eventually('the assignments dropped', () => (droppedAt !== undefined ? true : undefined), { timeoutMs: 8_000 });
  const after = Math.round(droppedAt! - resumedAt);
  assert.ok(after < 2_000, `dropped ${after} ms after the resume: the 4 s pause was waited again in time the node ran`);
});
