// A cache node paused (SIGSTOP, a throttled cgroup, a VM live migration) while its stream to keyway
// was down: the time it did not run does not count toward dropAfterMs. On resume its timers run
// before any answer is read: the reconnect fires, then the overdue drop, which emptied the node's
// assignments (onChange with none: a node may release what it caches) just before keyway's answer
// on the new stream restored them.
import { test, type TestContext } from 'node:test';
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

/**
 * A node with two assignments from a fake keyway whose first stream resets after 50 ms; `down()`
 * makes keyway refuse every stream (a replica restarting), `up()` serves again.
 */
async function pausedNode(t: TestContext, opts: { dropAfterMs: number; onChange: (a: ReadonlyMap<number, Assignment>) => void; log?: (r: Record<string, unknown>) => void }) {
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
  const agent = new OwnershipAgent({
    nodeId: 'a',
    servers: [fake.address],
    timing: { backoffInitialMs: 20, backoffMaxMs: 100, reportRetryMs: 20, dropAfterMs: opts.dropAfterMs },
    onChange: opts.onChange,
    ...(opts.log ? { log: opts.log } : {}),
  });
  t.after(() => agent.close());
  agent.start();
  await eventually('assignments', () => agent.assignments().size, { accept: (n) => n === 2 });
  keywayUp = false;
  await eventually('the first stream ended', () => (!agent.connected() ? true : undefined));
  return { agent, up: () => void (keywayUp = true) };
}

test('a node resumed after dropAfterMs with its stream down keeps its assignments while the reconnect answers', async (t) => {
  const seen: number[] = [];
  const { agent, up } = await pausedNode(t, { dropAfterMs: 1_000, onChange: (a) => void seen.push(a.size) });
  // keyway is back; the node is stopped before it could notice, for longer than dropAfterMs. On
  // resume the drop waits at most dropAfterMs more (1 s here: room for the reconnect on a loaded machine).
  up();
  await new Promise<void>((resolve) => setImmediate(() => (stop(2_800), resolve())));
  await eventually('up again', () => (agent.connected() ? true : undefined), { timeoutMs: 5_000 });
  await eventually('the assignments', () => agent.assignments().size, { accept: (n) => n === 2 });
  assert.ok(!seen.includes(0), `the node was never told it holds nothing (sizes told: ${seen.join(', ')})`);
});

test('a node resumed after a long pause with keyway still down drops within dropAfterMs of running, not the pause again', async (t) => {
  let dropped = false;
  const waits: number[] = [];
  await pausedNode(t, {
    dropAfterMs: 300,
    onChange: (a) => void (a.size === 0 && (dropped = true)),
    log: (r) => void (typeof r.waitMs === 'number' && waits.push(r.waitMs)),
  });
  // Stopped for 4 s (a suspended VM) while keyway stays down: on resume the node has run about
  // as long as before the pause with the link down, so the drop waits at most dropAfterMs more.
  await new Promise<void>((resolve) => setImmediate(() => (stop(4_000), resolve())));
  await eventually('the assignments dropped', () => (dropped ? true : undefined), { timeoutMs: 8_000 });
  assert.equal(waits.length, 1, 'one stall noticed');
  assert.ok(waits[0]! <= 300, `the drop waited ${waits[0]} ms more: the 4 s pause was waited again in time the node ran`);
});
