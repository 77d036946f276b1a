/**
 * A keyway replica paused past a make-before-break phase's bound (SIGSTOP, a throttled cgroup, a VM
 * live migration): on resume its timers run before the I/O that waited in its sockets, so the
 * clients' ACKs of the `add` set are not read yet when the phase's timer fires. The time it did not
 * run does not count toward the wait: the phase moves on on the ACKs, not past them with a warning
 * that the clients did not ACK (src/app/grpc-stager.ts).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createConnection, createServer, type Socket } from 'node:net';
import { once } from 'node:events';
import type { ResourceSet } from '../../src/xds/resources.js';
import { eventually } from '../support/eventually.js';
import { grpcSet, oneClassStager } from './grpc-sets.js';

/** Blocks the thread, as a stopped process: timers fall due, bytes wait in the sockets. */
function stop(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

test('an ACK waiting in the socket when a paused replica resumes past the bound still counts', async (t) => {
  // The clients' ACKs arrive over a socket, as they do over the xDS streams.
  let acked = false;
  const warnings: string[] = [];
  let target: ResourceSet = grpcSet(['a']);
  const stager = oneClassStager({ timeoutMs: 200, synced: () => acked, target: () => target, warnings });
  t.after(() => stager.close());
  const server = createServer((socket: Socket) => {
    socket.on('data', () => {
      acked = true;
      stager.check();
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.after(() => server.close());
  const client = createConnection((server.address() as { port: number }).port, '127.0.0.1');
  await once(client, 'connect');
  t.after(() => client.destroy());
  await new Promise((r) => setTimeout(r, 20));

  stager.build('K', target);
  target = grpcSet(['b']);
  stager.build('K', target);
  stager.rebuilt(new Set(['K']));
  assert.deepEqual(stager.inProgress(), [{ classKey: 'K', phase: 'add' }]);
  // The clients ACK at once; the replica is stopped before it reads the ACK, for twice the bound.
  // (From the check phase: the next turn of the loop runs the timers, then reads the socket.)
  setImmediate(() => {
    client.write('ack');
    stop(500);
  });
  await eventually('the change done', () => (stager.inProgress().length === 0 ? true : undefined), { timeoutMs: 3000 });
  assert.deepEqual(warnings, [], 'no phase moved on for want of ACKs the clients had sent');
});

test('changes that each come with a stall restart an add phase once, not at each change', async (t) => {
  // A client that never ACKs, and changes arriving during the `add` phase, each followed by a stall
  // past the bound (a translation of a big map, a pause): a change keeps the phase's deadline, and
  // must keep its one restart too, or each change restarts the bound and the routes in force are
  // held back for as long as such changes come.
  const warnings: string[] = [];
  let target: ResourceSet = grpcSet(['n0']);
  const stager = oneClassStager({ timeoutMs: 200, synced: () => false, target: () => target, warnings });
  t.after(() => stager.close());
  stager.build('K', target);
  const turn = () => new Promise((r) => setImmediate(r));
  for (let i = 1; i <= 6 && warnings.length === 0; i++) {
    target = grpcSet([`n${i}`]);
    stager.build('K', target);
    stager.rebuilt(new Set(['K']));
    // The check arms the phase's timer; the stall makes it fire past the bound.
    await turn();
    stop(450);
    await new Promise((r) => setTimeout(r, 0));
  }
  assert.ok(warnings.length > 0, 'the add phase ended at its bound after one restart, not held back by every change');
});
