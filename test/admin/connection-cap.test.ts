/**
 * The admin server's cap on open connections per peer address (src/admin/app.ts,
 * docs/security.md "REST requests"): each idle keep-alive connection cost about 7.5 KB and nothing
 * bounded how many one client held. A connection past the cap is closed as it is accepted, logged
 * once per burst; the address's open connections are still answered, and other addresses (the
 * kubelet's probes) get through. On a real listener with raw sockets.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import pino from 'pino';
import { buildAdminApp, type AdminAppOptions } from '../../src/admin/index.js';
import {
  ADMIN_MAX_CONNECTIONS_PER_PEER,
  ADMIN_MAX_CONNECTIONS_PER_PEER_ENV,
  adminMaxConnectionsPerPeerFromEnv,
} from '../../src/admin/app.js';
import { ServingState } from '../../src/app/serving-state.js';
import { KeywayError } from '../../src/core/errors.js';

interface LogLine {
  level?: number;
  msg?: string;
  limit?: string;
  refused?: number;
  peer?: string;
}

async function listening(t: { after(fn: () => unknown): void }, opts: AdminAppOptions = {}): Promise<{ port: number; lines: LogLine[] }> {
  const lines: LogLine[] = [];
  const logger = pino({ level: 'info' }, { write: (l: string) => void lines.push(JSON.parse(l) as LogLine) });
  const app = await buildAdminApp(new ServingState(), { ...opts, logger });
  await app.listen({ port: 0, host: '127.0.0.1' });
  // Every connection ends with the test, answered or not (a failing test leaves some open).
  t.after(() => {
    app.server.closeAllConnections();
    return app.close();
  });
  return { port: (app.server.address() as { port: number }).port, lines };
}

interface Conn {
  readonly socket: Socket;
  /** Resolves when the server closes the connection (or it fails). */
  readonly closed: Promise<void>;
  /** Sends GET /healthz and resolves with the answer's status line, or rejects if the connection closes first. */
  healthz(): Promise<string>;
}

function open(port: number, localAddress = '127.0.0.1'): Promise<Conn> {
  return new Promise((resolve, reject) => {
    const socket = connect({ port, host: '127.0.0.1', localAddress });
    let data = '';
    let waiting: { resolve: (s: string) => void; reject: (e: Error) => void } | undefined;
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => {
      data += chunk;
      if (waiting && data.includes('{"ok":true}')) {
        const line = data.split('\r\n')[0]!;
        data = '';
        waiting.resolve(line);
        waiting = undefined;
      }
    });
    let isClosed = false;
    const closed = new Promise<void>((done) => socket.once('close', () => done()));
    void closed.then(() => {
      isClosed = true;
      waiting?.reject(new Error('connection closed before the answer'));
    });
    socket.on('error', () => undefined); // a refused connection may be reset
    socket.once('connect', () =>
      resolve({
        socket,
        closed,
        healthz: () =>
          new Promise((res, rej) => {
            if (isClosed) return rej(new Error('connection closed before the answer'));
            waiting = { resolve: res, reject: rej };
            socket.write('GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
          }),
      }),
    );
    socket.once('error', reject);
  });
}

/** Whether `p` settles within `ms`. */
async function within(ms: number, p: Promise<unknown>): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<false>((r) => (timer = setTimeout(() => r(false), ms)));
  try {
    return await Promise.race([p.then(() => true), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

test('a connection past the per-address cap is closed as accepted; open ones and other addresses are still answered', async (t) => {
  const cap = 3;
  const { port, lines } = await listening(t, { maxConnectionsPerPeer: cap });
  const conns: Conn[] = [];
  for (let i = 0; i < cap; i++) {
    const c = await open(port);
    t.after(() => c.socket.destroy());
    // Answered: the server has accepted and counted it.
    assert.equal(await c.healthz(), 'HTTP/1.1 200 OK');
    conns.push(c);
  }

  const excess = await open(port);
  t.after(() => excess.socket.destroy());
  assert.ok(await within(2_000, excess.closed), `connection ${cap + 1} from 127.0.0.1 is closed`);
  await assert.rejects(excess.healthz(), /closed/);
  assert.equal(await conns[0]!.healthz(), 'HTTP/1.1 200 OK', 'a request on an open connection is still answered');

  // Another address (the kubelet's, Prometheus's) is not held back by this one's connections.
  const other = await open(port, '127.0.0.2');
  t.after(() => other.socket.destroy());
  assert.equal(await other.healthz(), 'HTTP/1.1 200 OK', 'a connection from 127.0.0.2 is served');

  // A burst of refusals is one warn line.
  for (let i = 0; i < 3; i++) {
    const again = await open(port);
    assert.ok(await within(2_000, again.closed));
  }
  const warns = lines.filter((l) => l.limit === ADMIN_MAX_CONNECTIONS_PER_PEER_ENV && l.level === 40);
  assert.equal(warns.length, 1, JSON.stringify(lines));
  assert.match(warns[0]!.msg!, /admin REST connection from 127\.0\.0\.1 closed as accepted: that address holds 3 open connections/);
  assert.match(warns[0]!.peer!, /^127\.0\.0\.1:\d+$/);

  // A closed connection frees its place.
  conns[0]!.socket.destroy();
  await conns[0]!.closed;
  const next = await open(port);
  t.after(() => next.socket.destroy());
  // The server sees the close after the client does: retry briefly until the place is free.
  let answered = false;
  for (let i = 0; i < 50 && !answered; i++) {
    const c = i === 0 ? next : await open(port);
    t.after(() => c.socket.destroy());
    answered = await c.healthz().then(
      () => true,
      () => false,
    );
  }
  assert.ok(answered, 'a place freed by a closed connection is taken again');
});

test(`the default cap is ${ADMIN_MAX_CONNECTIONS_PER_PEER}: connection 65 from one address is closed, 64 are served`, async (t) => {
  assert.equal(ADMIN_MAX_CONNECTIONS_PER_PEER, 64);
  const { port } = await listening(t);
  const conns = await Promise.all(Array.from({ length: ADMIN_MAX_CONNECTIONS_PER_PEER }, () => open(port)));
  t.after(() => conns.forEach((c) => c.socket.destroy()));
  const answers = await Promise.all(conns.map((c) => c.healthz()));
  assert.ok(answers.every((a) => a === 'HTTP/1.1 200 OK'));
  const excess = await open(port);
  t.after(() => excess.socket.destroy());
  assert.ok(await within(2_000, excess.closed), 'connection 65 is closed');
  assert.equal(await conns[63]!.healthz(), 'HTTP/1.1 200 OK');
});

test(`${ADMIN_MAX_CONNECTIONS_PER_PEER_ENV} overrides the default; a malformed value is an error naming it`, () => {
  assert.equal(adminMaxConnectionsPerPeerFromEnv({}), 64);
  assert.equal(adminMaxConnectionsPerPeerFromEnv({ [ADMIN_MAX_CONNECTIONS_PER_PEER_ENV]: '' }), 64);
  assert.equal(adminMaxConnectionsPerPeerFromEnv({ [ADMIN_MAX_CONNECTIONS_PER_PEER_ENV]: '256' }), 256);
  for (const bad of ['0', '-1', '1.5', 'lots', '1e400']) {
    assert.throws(
      () => adminMaxConnectionsPerPeerFromEnv({ [ADMIN_MAX_CONNECTIONS_PER_PEER_ENV]: bad }),
      (err: unknown) => err instanceof KeywayError && err.code === 'BAD_ARGUMENT' && err.message.includes(ADMIN_MAX_CONNECTIONS_PER_PEER_ENV),
    );
  }
});
