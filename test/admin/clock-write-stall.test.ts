/**
 * The write stall is timed on the monotonic clock (src/admin/write-stall.ts): a wall clock stepped
 * back (an NTP correction, a VM resumed) while a client holds an answer unread let it hold the
 * socket and the answer's buffer for as long as the clock went back.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import type { FastifyInstance } from 'fastify';
import { buildAdminApp } from '../../src/admin/index.js';
import { ServingState } from '../../src/app/serving-state.js';
import { eventually } from '../support/eventually.js';

const BIG = 24 << 20;

const openConnections = (app: FastifyInstance): Promise<number> =>
  new Promise((resolve, reject) => app.server.getConnections((err, n) => (err ? reject(err) : resolve(n))));

test('a client that never reads is cut after the write stall though the wall clock stepped back an hour meanwhile', { timeout: 15_000 }, async (t) => {
  const real = Date.now.bind(Date);
  let wallOffset = 0;
  t.mock.method(Date, 'now', () => real() + wallOffset);
  const body = Buffer.alloc(BIG, 'k');
  const app = await buildAdminApp(new ServingState(), {
    writeStallMs: 300,
    routes: [async (a) => void a.get('/test/big', async (_request, reply) => reply.type('application/octet-stream').send(body))],
  });
  await app.listen({ port: 0, host: '127.0.0.1' });
  t.after(() => app.close());
  const port = (app.server.address() as { port: number }).port;
  const socket: Socket = connect(port, '127.0.0.1', () => socket.write('GET /test/big HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n'));
  socket.on('error', () => undefined); // the server resets a stalled connection
  socket.pause(); // reads nothing
  t.after(() => socket.destroy());
  await eventually('connection open', () => openConnections(app), { accept: (n) => n === 1 });
  // Let the first samples see the answer stuck in the buffers, then step the wall clock back.
  await new Promise((r) => setTimeout(r, 100));
  wallOffset = -3_600_000;
  await eventually('connection cut', () => openConnections(app), { accept: (n) => n === 0, timeoutMs: 4_000 });
  assert.equal(await openConnections(app), 0);
});
