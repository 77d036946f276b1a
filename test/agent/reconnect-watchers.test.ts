// An agent whose keyway refuses connections (a replica down, restarting) reconnects with backoff.
// The channel stays in TRANSIENT_FAILURE all along, so a connectivity watch per attempt (each with
// its own timer) fired only at its one-minute deadline: they piled up with the attempts. One watch
// at a time serves every stream.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { Channel, Server, ServerCredentials, type ServerDuplexStream } from '@grpc/grpc-js';
import { OwnershipAgent } from '../../src/agent/index.js';
import { eventually } from '../support/eventually.js';

test('reconnecting to a keyway that refuses connections keeps one connectivity watch, not one per attempt', { timeout: 60_000 }, async (t) => {
  // Counts the channel watches still pending.
  let pending = 0;
  const watch = Channel.prototype.watchConnectivityState;
  Channel.prototype.watchConnectivityState = function (state, deadline, callback) {
    pending++;
    return watch.call(this, state, deadline, (err?: Error) => {
      pending--;
      callback(err);
    });
  };
  t.after(() => {
    Channel.prototype.watchConnectivityState = watch;
  });
  // A port that refuses every connection: a listener closed at once.
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));

  let attempts = 0;
  const agent = new OwnershipAgent({
    nodeId: 'n',
    servers: [`127.0.0.1:${port}`],
    log: (r) => void (r.msg === 'ownership stream ended; reconnecting' && attempts++),
    timing: { backoffInitialMs: 1, backoffMaxMs: 4, loadWindowMs: 0 },
  });
  t.after(() => agent.close());
  agent.start();
  await eventually('200 failed attempts', () => attempts, { accept: (n) => n >= 200, timeoutMs: 50_000, intervalMs: 50 });
  assert.ok(pending <= 2, `${pending} connectivity watches pending after ${attempts} attempts`);

  // keyway back on the port, silent (a resumed stream it has nothing to send for): the one watch
  // still sees the channel connect, and the stream counts as up once it has settled.
  const keyway = new Server();
  const raw = (b: Buffer): Buffer => b;
  keyway.addService(
    { Delta: { path: '/envoy.service.discovery.v3.AggregatedDiscoveryService/DeltaAggregatedResources', requestStream: true, responseStream: true, requestSerialize: raw, requestDeserialize: raw, responseSerialize: raw, responseDeserialize: raw } },
    { Delta: (call: ServerDuplexStream<Buffer, Buffer>) => void call.on('data', () => undefined) },
  );
  await new Promise<number>((resolve, reject) => keyway.bindAsync(`127.0.0.1:${port}`, ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))));
  t.after(() => keyway.forceShutdown());
  await eventually('the link is up', () => agent.connected(), { accept: (up) => up, timeoutMs: 20_000, intervalMs: 50 });
});
