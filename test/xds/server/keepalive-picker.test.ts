/**
 * The endpoint picker's keepalive (src/extproc/server.ts): a gateway that vanishes without closing
 * its connection (node lost, network cut) must not hold its ext_proc streams open on the picker
 * forever. The picker pings; an unanswered ping closes the connection. The timers are mocked so
 * the test takes milliseconds, against grpc-js's real keepalive code.
 */
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import net from 'node:net';
import { mock, test } from 'node:test';
import pino from 'pino';
import { startExtProcServer } from '../../../src/extproc/index.js';
import { state } from '../../extproc/three-nodes.js';

/** A TCP relay to `port` that can stop forwarding while keeping both sockets open (a vanished peer). */
async function relay(port: number): Promise<{ port: number; blackhole: () => void; upstreamClosed: Promise<void>; close: () => void }> {
  let forwarding = true;
  const sockets: net.Socket[] = [];
  let markClosed: () => void = () => undefined;
  const upstreamClosed = new Promise<void>((resolve) => (markClosed = resolve));
  const server = net.createServer((down) => {
    const up = net.connect(port, '127.0.0.1');
    sockets.push(down, up);
    down.on('data', (b) => forwarding && up.write(b));
    up.on('data', (b) => forwarding && down.write(b));
    up.on('close', markClosed);
    down.on('error', () => undefined);
    up.on('error', () => undefined);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    blackhole: () => (forwarding = false),
    upstreamClosed,
    close: () => {
      for (const s of sockets) s.destroy();
      server.close();
    },
  };
}

const turns = async (n: number): Promise<void> => {
  for (let i = 0; i < n; i++) await new Promise((resolve) => setImmediate(resolve));
};

test('a gateway that vanishes mid-stream has its connection closed by the picker keepalive', { timeout: 10_000 }, async () => {
  const server = await startExtProcServer({ state, port: 0, host: '127.0.0.1', logger: pino({ level: 'silent' }) });
  const path = await relay(server.port);
  mock.timers.enable({ apis: ['setTimeout'] });
  try {
    const session = http2.connect(`http://127.0.0.1:${path.port}`);
    session.on('error', () => undefined);
    const req = session.request({ ':method': 'POST', ':path': '/envoy.service.ext_proc.v3.ExternalProcessor/Process', 'content-type': 'application/grpc', te: 'trailers' }, { endStream: false });
    req.on('error', () => undefined);
    await new Promise<void>((resolve) => session.once('remoteSettings', () => resolve()));
    await turns(50);
    path.blackhole();
    let closed = false;
    void path.upstreamClosed.then(() => (closed = true));
    // Past any keepalive a gateway operator would expect (ping every 60 s, 20 s to answer) twice over.
    for (let i = 0; i < 320 && !closed; i++) {
      mock.timers.tick(1_000);
      await turns(5);
    }
    assert.ok(closed, 'the picker still holds the connection of a gateway that stopped answering');
    session.destroy();
  } finally {
    mock.timers.reset();
    path.close();
    await server.close();
  }
});
