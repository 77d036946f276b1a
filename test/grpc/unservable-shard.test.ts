// What a call gets from keyway's grpc-js shard picker when its shard's owner cannot serve it, in
// real grpc-js channels against real local servers (docs/xds.md "The shard picker", "Picking, per
// call"): a draining primary's calls go to the replica and none fails; the primary's calls come back
// to it once it is up again (no sticky failover); calls queued while the shard's only owner connects
// (fail-fast) or is not yet listed are picked again with a new owner table, none lost; a
// wait-for-ready call whose owners are all down waits out its deadline. The channel's resolver is
// one this file registers, so the test can push a new policy config as xDS would. Last, with
// grpc-js-xds and keyway serve: when no node serves, EDS lists no endpoint and grpc-js-xds builds no
// priority, so the policy is not reached and every call fails with grpc-js-xds's UNAVAILABLE.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { Client, Metadata, credentials, experimental, type ChannelOptions, type ServiceError } from '@grpc/grpc-js';
import { registerShardPicker, withShardPicker } from '../../src/grpc/index.js';
import { encodeOwners, type ShardPickerConfig } from '../../src/core/shard-picker.js';
import { startWhoServer, WHO_METHOD } from '../support/grpc-who.js';
import { eventually } from '../support/eventually.js';
import { freePort } from '../../e2e/support/ports.js';
import { startKeywayInProcess } from '../support/keyway-in-process.js';
import { startProbeProcess } from '../integration/support/probe-process.js';

const raw = (b: Buffer): Buffer => b;

/** One Who call; its answer is the server's name, or `<code> <details>`. */
function call(client: Client, shard: string, opts: { waitForReady?: boolean; timeoutMs?: number } = {}): Promise<string> {
  const md = new Metadata();
  md.set('x-cache-shard', shard);
  if (opts.waitForReady) md.setOptions({ waitForReady: true });
  return new Promise((resolve) =>
    client.makeUnaryRequest(WHO_METHOD, raw, raw, Buffer.alloc(0), md, { deadline: Date.now() + (opts.timeoutMs ?? 1000) }, (err: ServiceError | null, v?: Buffer) =>
      resolve(err ? `${err.code} ${err.details}` : v!.toString()),
    ),
  );
}

// The resolver of scheme `keyway-test`: a target's endpoints and picker config come from `targets`,
// and `push(target)` hands the channel the current ones, as grpc-js-xds does on a CDS update.
type Listener = experimental.ResolverListener;
type ServiceConfigOf = Exclude<Parameters<Listener>[2], null>;
const targets = new Map<string, { addresses: string[]; config: ShardPickerConfig; listener?: Listener }>();

function push(target: string): void {
  const t = targets.get(target)!;
  const endpoints = t.addresses.map((a) => {
    const i = a.lastIndexOf(':');
    return { addresses: [{ host: a.slice(0, i), port: Number(a.slice(i + 1)) }] };
  });
  const serviceConfig = { ok: true, value: { loadBalancingConfig: [{ 'keyway.shard_picker': t.config }], methodConfig: [] } } as unknown as ServiceConfigOf;
  t.listener?.({ ok: true, value: endpoints }, {}, serviceConfig, '');
}

class PushResolver implements experimental.Resolver {
  readonly #target: string;
  constructor(target: experimental.GrpcUri, listener: Listener, _options: ChannelOptions) {
    this.#target = target.path;
    targets.get(this.#target)!.listener = listener;
  }
  #resolved = false;
  updateResolution(): void {
    // Once, as the ipv4: resolver: grpc-js asks again on every update while an endpoint is down
    // (pick_first's re-resolution request), and answering each would loop. Never synchronously.
    if (this.#resolved) return;
    this.#resolved = true;
    setImmediate(() => push(this.#target));
  }
  destroy(): void {}
  static getDefaultAuthority(target: experimental.GrpcUri): string {
    return target.path;
  }
}
experimental.registerResolver('keyway-test', PushResolver);

function channel(target: string): Client {
  return new Client(`keyway-test:${target}`, credentials.createInsecure(), {
    'grpc.initial_reconnect_backoff_ms': 100,
    'grpc.max_reconnect_backoff_ms': 200,
  });
}

/** A TCP listener that accepts and never speaks HTTP/2: a connection to it stays CONNECTING. */
async function blackhole(): Promise<{ port: number; close(): void }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((s) => {
    sockets.add(s);
    s.on('error', () => undefined);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    close: () => {
      for (const s of sockets) s.destroy();
      server.close();
    },
  };
}

test('a draining primary: calls in flight finish on it, new calls go to the replica, and back to the primary once it is up', async (t) => {
  registerShardPicker();
  let delayA = 0;
  const portA = await freePort(); // below the ephemeral range: a comes back on it
  let a = await startWhoServer('a', portA, () => delayA);
  const b = await startWhoServer('b', 0);
  t.after(() => [a, b].forEach((s) => s.server.forceShutdown()));
  const addresses = [`127.0.0.1:${portA}`, `127.0.0.1:${b.port}`].sort();
  const ia = addresses.indexOf(`127.0.0.1:${portA}`);
  const ib = addresses.indexOf(`127.0.0.1:${b.port}`);
  targets.set('drain', {
    addresses,
    config: { shardCount: 1, shardHeader: 'x-cache-shard', keyHeader: '', missingHeader: 'reject', endpoints: addresses, owners: encodeOwners([[ia, ib]], 2) },
  });
  const client = channel('drain');
  t.after(() => client.close());
  await eventually('shard 0 on a', () => call(client, '0'), { accept: (v) => v === 'a', timeoutMs: 10_000 });

  // a drains (GOAWAY, no new connections) while one of its calls is in flight.
  delayA = 400;
  const inFlight = call(client, '0', { timeoutMs: 5000 });
  await sleep(100);
  const drained = new Promise<void>((resolve) => a.server.tryShutdown(() => resolve()));
  const during: string[] = [];
  for (let i = 0; i < 10; i++) {
    during.push(await call(client, '0'));
    await sleep(20);
  }
  assert.equal(await inFlight, 'a', 'the call in flight finishes on the draining node');
  await drained;
  assert.deepEqual(during, Array(10).fill('b'), 'every new call goes to the replica, none fails');

  // a is back on its port: shard 0's calls return to it, and stay.
  delayA = 0;
  a = await startWhoServer('a', portA, () => 0);
  await eventually('shard 0 back on a', () => call(client, '0'), { accept: (v) => v === 'a', timeoutMs: 10_000 });
  for (let i = 0; i < 5; i++) assert.equal(await call(client, '0'), 'a');
});

test('calls queued for an unservable shard are picked again with a new owner table, none lost', async (t) => {
  registerShardPicker();
  const b = await startWhoServer('b', 0);
  const hole = await blackhole();
  t.after(() => {
    b.server.forceShutdown();
    hole.close();
  });
  const B = `127.0.0.1:${b.port}`;
  const H = `127.0.0.1:${hole.port}`; // connecting for longer than the calls' deadlines (grpc-js waits 20 s)
  const P = `127.0.0.1:${await freePort()}`; // in the table, not (yet) among the endpoints: pending
  const endpoints = [B, H, P].sort();
  const i = (a: string): number => endpoints.indexOf(a);
  const config = (owners: number[][]): ShardPickerConfig => ({
    shardCount: 3,
    shardHeader: 'x-cache-shard',
    keyHeader: '',
    missingHeader: 'reject',
    endpoints,
    owners: encodeOwners(owners, 1),
  });
  // shard 0 on b, shard 1 on the endpoint that never connects, shard 2 on the one not listed yet.
  // No endpoint changes state after b is READY, so only the new table can pick the queued calls again.
  targets.set('queued', { addresses: [B, H], config: config([[i(B)], [i(H)], [i(P)]]) });
  const client = channel('queued');
  t.after(() => client.close());
  await eventually('shard 0 on b', () => call(client, '0'), { accept: (v) => v === 'b', timeoutMs: 10_000 });

  const queued = [
    ...[0, 1].map(() => call(client, '1', { timeoutMs: 8000 })),
    ...[0, 1].map(() => call(client, '2', { timeoutMs: 8000 })),
    ...[0, 1].map(() => call(client, '2', { waitForReady: true, timeoutMs: 8000 })),
  ];
  await sleep(300);
  targets.get('queued')!.config = config([[i(B)], [i(B)], [i(B)]]);
  push('queued');
  assert.deepEqual(await Promise.all(queued), Array(6).fill('b'));
});

test('every owner down: a fail-fast call fails UNAVAILABLE naming the shard, a wait-for-ready call waits out its deadline', async (t) => {
  registerShardPicker();
  const D = `127.0.0.1:${await freePort()}`; // refused: down
  targets.set('down', {
    addresses: [D],
    config: { shardCount: 1, shardHeader: 'x-cache-shard', keyHeader: '', missingHeader: 'reject', endpoints: [D], owners: encodeOwners([[0]], 1) },
  });
  const client = channel('down');
  t.after(() => client.close());
  await eventually('shard 0 down', () => call(client, '0'), { accept: (v) => /^14 keyway.shard_picker: no owner of shard 0 is reachable$/.test(v), timeoutMs: 10_000 });
  const started = Date.now();
  assert.match(await call(client, '0', { waitForReady: true, timeoutMs: 800 }), /^4 /);
  assert.ok(Date.now() - started >= 700, 'waited for its deadline');
});

test('grpc-js-xds with no node serving: EDS lists no endpoint, calls fail UNAVAILABLE from grpc-js-xds (the policy is not reached), wait-for-ready calls wait', async (t) => {
  const nodes = await Promise.all(
    ['node-0', 'node-1'].map(async (name) => {
      const s = await startWhoServer(name, 0);
      return { name, port: s.port, stop: () => s.server.forceShutdown() };
    }),
  );
  t.after(() => nodes.forEach((n) => n.stop()));
  const topology = (ready: boolean): string =>
    [
      'shards: 4',
      'replicas: 1',
      'spread: none',
      'service: keyway-cache',
      'xds: {holdOffMs: 10, maxDelayMs: 100}',
      'envoy: {missingHeader: reject}',
      'endpoints:',
      ...nodes.flatMap((n, i) => [`  - id: ${n.name}`, '    address: 127.0.0.1', `    port: ${n.port}`, `    locality: {region: r, zone: z${i}, subzone: nvl-${i}}`, '    weight: 10', `    ready: ${ready}`]),
    ].join('\n') + '\n';
  const { server, topo } = await startKeywayInProcess(t, topology(true), { fileWatch: { debounce: { holdOffMs: 20, maxDelayMs: 100 }, pollIntervalMs: 100 } });
  const bootstrap = withShardPicker({
    xds_servers: [{ server_uri: `127.0.0.1:${server.listening.xdsPort}`, channel_creds: [{ type: 'insecure' }], server_features: ['xds_v3'] }],
    node: { id: 'grpc-picker-unservable' },
  });
  const probe = startProbeProcess(new URL('./support/picker-call-probe.ts', import.meta.url), 'xds:///keyway-cache', bootstrap);
  t.after(() => probe.close());
  const ask = (fields: Record<string, string>): Promise<string> => probe.ask(fields).catch((e: Error) => e.message);
  const names = nodes.map((n) => n.name);
  await eventually('shard 0 served', () => ask({ shard: '0' }), { accept: (v) => names.includes(v), timeoutMs: 20_000 });

  await topo.write(topology(false));
  const empty = /^14 priority policy has empty priority list$/;
  await eventually('no node serving', () => ask({ shard: '0' }), { accept: (v) => empty.test(v), timeoutMs: 20_000 });
  // Not the policy's "no owner of shard N is reachable", nor INVALID_ARGUMENT for a bad header.
  assert.match(await ask({ shard: '1' }), empty);
  assert.match(await ask({ shard: 'x' }), empty);

  // A wait-for-ready call waits, and is served once a node serves again.
  const waiting = ask({ shard: '0', waitForReady: 'true', timeoutMs: '20000' });
  await sleep(300);
  await topo.write(topology(true));
  assert.ok(names.includes(await waiting), 'the wait-for-ready call is served');
});
