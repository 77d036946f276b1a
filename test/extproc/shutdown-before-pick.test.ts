/**
 * The picker shutting down never ends a stream whose request headers it has not answered yet.
 * Envoy's ext_proc filter takes a stream the server ends cleanly (OK) as "nothing more to do"
 * whatever `failure_mode_allow` says, and sends the request on unchanged: with no
 * `x-gateway-destination-endpoint`, override_host routes it by its fallback policy, to any
 * endpoint of the pool. A stream is in that state from its HTTP/2 HEADERS until its first message
 * has fully arrived (a request with large headers spans several reads), so a rollout of keyway
 * sent such requests to the wrong node. Shown on real Envoy with a relay between Envoy and the
 * picker that holds back the streams' DATA frames while close() runs.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import pino from 'pino';
import { startEnvoy, envoySkipReason, type EnvoyProcess } from '../../e2e/support/envoy.js';
import { gatewayBootstrap } from '../../e2e/support/ext-proc-gateway.js';
import { freePorts } from '../../e2e/support/ports.js';
import { startExtProcServer, type ExtProcServer } from '../../src/extproc/index.js';
import { oneNodeState } from './three-nodes.js';

const skip = envoySkipReason();
const upstreams: http.Server[] = [];
let picker: ExtProcServer | undefined;
let relay: Relay | undefined;
let envoy: EnvoyProcess | undefined;
let gatewayPort = 0;
let owner = 0;

/** An upstream that answers with its own port. */
function startUpstream(): Promise<http.Server> {
  const server = http.createServer((req, res) => {
    req.resume();
    res.end(String((server.address() as AddressInfo).port));
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

/** A TCP relay to the picker that can hold back the HTTP/2 DATA frames Envoy sends (its messages), passing everything else. */
interface Relay {
  readonly port: number;
  /** DATA frames held since hold(). */
  held(): number;
  hold(): void;
  release(): void;
  close(): void;
}

function startRelay(target: number): Promise<Relay> {
  const sockets = new Set<net.Socket>();
  let holding = false;
  const queue: { to: net.Socket; frame: Buffer }[] = [];
  const server = net.createServer((down) => {
    const up = net.connect(target, '127.0.0.1');
    sockets.add(down).add(up);
    up.on('data', (b) => down.write(b));
    up.on('error', () => down.destroy());
    down.on('error', () => up.destroy());
    up.on('close', () => down.destroy());
    down.on('close', () => up.destroy());
    let pending = Buffer.alloc(0);
    let preface = 24; // PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n
    down.on('data', (b: Buffer) => {
      pending = Buffer.concat([pending, b]);
      if (preface > 0) {
        const n = Math.min(preface, pending.length);
        up.write(pending.subarray(0, n));
        pending = pending.subarray(n);
        preface -= n;
      }
      while (pending.length >= 9) {
        const size = 9 + pending.readUIntBE(0, 3);
        if (pending.length < size) break;
        const frame = pending.subarray(0, size);
        pending = pending.subarray(size);
        const isData = frame[3] === 0 && (frame.readUInt32BE(5) & 0x7fffffff) !== 0;
        if (holding && isData) queue.push({ to: up, frame });
        else up.write(frame);
      }
    });
  });
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () =>
      resolve({
        port: (server.address() as AddressInfo).port,
        held: () => queue.length,
        hold: () => void (holding = true),
        release() {
          holding = false;
          for (const { to, frame } of queue.splice(0)) to.write(frame);
        },
        close() {
          for (const s of sockets) s.destroy();
          server.close();
        },
      }),
    ),
  );
}

before(async () => {
  if (skip) return;
  for (let i = 0; i < 2; i++) upstreams.push(await startUpstream());
  owner = (upstreams[0]!.address() as AddressInfo).port;
  // One node owns every shard; the pool also holds another, which override_host's fallback takes in turn.
  const state = oneNodeState('127.0.0.1', owner);
  picker = await startExtProcServer({ state, port: 0, host: '127.0.0.1', logger: pino({ level: 'silent' }) });
  relay = await startRelay(picker.port);
  [gatewayPort] = (await freePorts(1)) as [number];
  const doc = gatewayBootstrap({
    listeners: [{ name: 'gw', port: gatewayPort, picker: 'picker' }],
    pickers: { picker: relay.port },
    backends: upstreams.map((s) => ({ address: '127.0.0.1', port: (s.address() as AddressInfo).port })),
  });
  envoy = await startEnvoy({ bootstrap: doc });
});

after(async () => {
  await envoy?.stop();
  await picker?.close();
  relay?.close();
  await Promise.all(upstreams.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
});

function get(shard: number): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port: gatewayPort, path: '/', agent: false, headers: { 'x-cache-shard': String(shard) } }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
  });
}

async function until(what: string, ok: () => boolean): Promise<void> {
  for (let i = 0; i < 200 && !ok(); i++) await new Promise((resolve) => setTimeout(resolve, 25));
  assert.ok(ok(), what);
}

test('a picker closing while request headers are still on their way answers them before ending their streams', { skip, timeout: 60_000 }, async () => {
  assert.equal((await get(0)).body, String(owner), 'the picker routes to the owner');
  const N = 6;
  relay!.hold();
  const replies = Array.from({ length: N }, (_, i) => get(i % 4));
  await until('every request opened its stream, its message held back', () => relay!.held() >= N);
  await new Promise((resolve) => setTimeout(resolve, 200));
  const closing = picker!.close();
  // Time for a stream ended now to reach Envoy before its message reaches keyway.
  await new Promise((resolve) => setTimeout(resolve, 300));
  relay!.release();
  const got = await Promise.all(replies);
  await closing;
  for (const [i, r] of got.entries()) {
    assert.equal(r.status, 200, `request ${i}: ${r.body}`);
    assert.equal(r.body, String(owner), `request ${i}: served by the shard's owner, not by the fallback policy`);
  }
});
