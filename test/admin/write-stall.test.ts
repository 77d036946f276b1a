/**
 * The write-stall limit of the admin server (docs/security.md "REST requests"): a client that asks
 * a large body and stops reading is disconnected after the limit, logged once per burst; one that
 * reads steadily is not, however long its download lasts. On a real listener with raw sockets.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import pino from 'pino';
import type { FastifyInstance } from 'fastify';
import { buildAdminApp, type AdminAppOptions } from '../../src/admin/index.js';
import { REST_KEEP_ALIVE_TIMEOUT_MS, REST_WRITE_STALL_MS, restWriteStallMsFromEnv } from '../../src/admin/request-limits.js';
import { ServingState } from '../../src/app/serving-state.js';
import { KeywayError } from '../../src/core/errors.js';

interface LogLine {
  msg?: string;
  limit?: string;
  refused?: number;
  peer?: string;
}

/** Far more than the kernel buffers of a loopback connection (about 4 MiB sent, more received). */
const BIG = 24 << 20;

async function listening(
  t: { after(fn: () => unknown): void },
  opts: AdminAppOptions & { bodyBytes: number },
): Promise<{ app: FastifyInstance; port: number; lines: LogLine[] }> {
  const lines: LogLine[] = [];
  const logger = pino({ level: 'info' }, { write: (l: string) => void lines.push(JSON.parse(l) as { msg?: string }) });
  const body = Buffer.alloc(opts.bodyBytes, 'k');
  const app = await buildAdminApp(new ServingState(), {
    ...opts,
    logger,
    // A large body sent in one write, as /v1/shardmap and /v1/changes are.
    routes: [async (a) => void a.get('/test/big', async (_request, reply) => reply.type('application/octet-stream').send(body))],
  });
  await app.listen({ port: 0, host: '127.0.0.1' });
  t.after(() => app.close());
  return { app, port: (app.server.address() as { port: number }).port, lines };
}

const openConnections = (app: FastifyInstance): Promise<number> =>
  new Promise((resolve, reject) => app.server.getConnections((err, n) => (err ? reject(err) : resolve(n))));

/** Polls `check` every 20 ms until it holds or `ms` pass; returns whether it held. */
async function within(ms: number, check: () => Promise<boolean> | boolean): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await check()) return true;
    await new Promise((r) => setTimeout(r, 20));
  }
  return check();
}

function getBig(port: number): Socket {
  const socket = connect(port, '127.0.0.1', () => socket.write('GET /test/big HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n'));
  socket.on('error', () => undefined); // the server resets a stalled connection
  return socket;
}

test('a client that asks a large body and never reads is disconnected after the write stall, logged once per burst', async (t) => {
  const stallMs = 300;
  const { app, port, lines } = await listening(t, { bodyBytes: BIG, writeStallMs: stallMs });
  const started = Date.now();
  const clients = [getBig(port), getBig(port)];
  for (const c of clients) c.pause(); // reads nothing
  t.after(() => clients.forEach((c) => c.destroy()));
  assert.ok(await within(2_000, async () => (await openConnections(app)) === 2), 'both connections open');
  // Cut between the stall and the stall plus a sampling period (plus this machine's slack).
  const cut = await within(stallMs + 3_000, async () => (await openConnections(app)) === 0);
  assert.ok(cut, `the server still holds ${await openConnections(app)} stalled connection(s) after ${Date.now() - started} ms`);
  assert.ok(Date.now() - started >= stallMs, 'not before the stall');
  const warns = lines.filter((l) => l.limit === 'KEYWAY_ADMIN_WRITE_STALL_MS' && /took no byte of its answer in 300 ms \(keyway held \d+ bytes for it\)/.test(l.msg ?? ''));
  assert.equal(warns.length, 1, `one line for the burst, got ${JSON.stringify(lines)}`);
  assert.match(warns[0]?.peer ?? '', /^127\.0\.0\.1:\d+$/);
  // The server still answers others.
  const ok = await app.inject({ method: 'GET', url: '/healthz' });
  assert.notEqual(ok.statusCode, 0);
  await app.close();
  const summary = lines.find((l) => l.limit === 'KEYWAY_ADMIN_WRITE_STALL_MS' && l.refused !== undefined);
  assert.equal(summary?.refused, 2, `the burst's count at close, got ${JSON.stringify(lines)}`);
});

test('a client that reads a large body slowly but steadily is not cut, though its download outlasts the stall many times', async (t) => {
  // Progress is seen each time the kernel frees a third of its send buffer (about 1.4 MB over
  // loopback), so "steadily" here is 256 KiB every 100 ms against a 1.5 s stall: a gap of ~0.6 s.
  const stallMs = 1_500;
  const bodyBytes = 12 << 20;
  const { app, port, lines } = await listening(t, { bodyBytes, writeStallMs: stallMs });
  const started = Date.now();
  const socket = getBig(port);
  t.after(() => socket.destroy());
  let got = 0;
  let quota = 0;
  socket.on('data', (d: Buffer) => {
    got += d.length;
    quota -= d.length;
    if (quota <= 0) socket.pause();
  });
  socket.pause();
  const tick = setInterval(() => {
    quota += 256 << 10;
    socket.resume();
  }, 100);
  t.after(() => clearInterval(tick));
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  const done = await within(30_000, () => got >= bodyBytes || socket.destroyed);
  clearInterval(tick);
  const ms = Date.now() - started;
  assert.ok(done && got >= bodyBytes, `read ${got} of ${bodyBytes} bytes in ${ms} ms (destroyed: ${socket.destroyed})`);
  assert.ok(ms > 2 * stallMs, `the download lasted ${ms} ms, not longer than the stall: the test proves nothing`);
  assert.equal(await openConnections(app), 1, 'the keep-alive connection is still open');
  assert.deepEqual(lines.filter((l) => l.limit === 'KEYWAY_ADMIN_WRITE_STALL_MS'), []);
  socket.destroy();
  await closed;
});

test('the write stall defaults to 60 s, read from KEYWAY_ADMIN_WRITE_STALL_MS like the xDS limits', () => {
  assert.equal(REST_WRITE_STALL_MS, 60_000);
  assert.equal(restWriteStallMsFromEnv({}), REST_WRITE_STALL_MS);
  assert.equal(restWriteStallMsFromEnv({ KEYWAY_ADMIN_WRITE_STALL_MS: '' }), REST_WRITE_STALL_MS);
  assert.equal(restWriteStallMsFromEnv({ KEYWAY_ADMIN_WRITE_STALL_MS: '2147483647' }), 2147483647);
  for (const bad of ['0', '-1', '1.5', 'soon', '2147483648', '3000000000']) {
    assert.throws(
      () => restWriteStallMsFromEnv({ KEYWAY_ADMIN_WRITE_STALL_MS: bad }),
      (err: unknown) => err instanceof KeywayError && err.code === 'BAD_ARGUMENT' && err.message.includes('KEYWAY_ADMIN_WRITE_STALL_MS') && err.message.includes(JSON.stringify(bad)),
      bad,
    );
  }
});

test('buildAdminApp refuses a malformed KEYWAY_ADMIN_WRITE_STALL_MS from the environment, naming it', async () => {
  const before = process.env.KEYWAY_ADMIN_WRITE_STALL_MS;
  process.env.KEYWAY_ADMIN_WRITE_STALL_MS = '3000000000';
  try {
    await assert.rejects(buildAdminApp(new ServingState()), /KEYWAY_ADMIN_WRITE_STALL_MS must be at most 2147483647 ms/);
  } finally {
    if (before === undefined) delete process.env.KEYWAY_ADMIN_WRITE_STALL_MS;
    else process.env.KEYWAY_ADMIN_WRITE_STALL_MS = before;
  }
});

test('idle keep-alive connections are closed after REST_KEEP_ALIVE_TIMEOUT_MS, set by keyway rather than left to fastify', async () => {
  const app = await buildAdminApp(new ServingState());
  try {
    assert.equal(app.server.keepAliveTimeout, REST_KEEP_ALIVE_TIMEOUT_MS);
    assert.ok(REST_KEEP_ALIVE_TIMEOUT_MS > 0 && REST_KEEP_ALIVE_TIMEOUT_MS <= 120_000);
  } finally {
    await app.close();
  }
});
