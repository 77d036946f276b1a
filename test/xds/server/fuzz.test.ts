/**
 * Fuzzing keyway's xDS port (ADS and per-type, SotW and delta; ShardOwnership ReportWarm and
 * ReportLoad) with hostile bytes: random bodies, valid messages mutated (bit flips, truncation,
 * unknown fields, splices), hand-built ones (Struct metadata nested deep, huge repeated fields),
 * and odd stream patterns (half-close first, cancel mid-response, write everything before
 * reading). keyway serve runs in this process: no error may escape to it, every call must end
 * with a status within a bound, no stream may stay registered once its call is over, and a
 * well-behaved client must still be served afterwards.
 *
 * Seeded and small by default (a few seconds). A longer campaign:
 *   KEYWAY_FUZZ_ITERATIONS=20000 KEYWAY_FUZZ_SEED=7 node --import tsx --test test/xds/server/fuzz.test.ts
 * A failure prints the seed and iteration to replay.
 */
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import { test } from 'node:test';
import { gzipSync } from 'node:zlib';
import { create, toBinary } from '@bufbuild/protobuf';
import { status as GrpcStatus } from '@grpc/grpc-js';
import { fourNodeTopology, startKeywayInProcess } from '../../support/keyway-in-process.js';
import { eventually } from '../../support/eventually.js';
import { XdsTestClient } from '../../support/xds-client/xds-client.js';
import { startHarness } from '../../support/xds-client/harness.js';
import { DiscoveryRequestSchema, WarmReportSchema } from '../../../src/xds/proto.js';
import { TYPE_URL } from '../../../src/xds/resources.js';
import { fuzzBudget, mutate, pool, rawBidi, rawClient, rawUnary, Rng, watchEscapes, type CallOutcome, type StreamPattern } from './fuzz-kit.js';
import { hostileDelta, hostileSotw, hostileWarm, randomDelta, randomLoad, randomSotw, randomWarm, XDS_METHODS, xdsReply } from './fuzz-messages.js';

const WINDOW_MS = 10_000;
/** A call's status must come within this (keyway answers at once; a loaded CI machine is slow). */
const BOUND_MS = 8_000;
const PATTERNS: readonly StreamPattern[] = ['half-close', 'converse', 'converse', 'close-first', 'cancel', 'no-read'];

test('the xDS port survives hostile and broken clients, ends every call with a status and still serves', { timeout: 120_000 }, async (t) => {
  const { iterations, seed } = fuzzBudget(600);
  const escapes = watchEscapes();
  t.after(() => escapes.stop());
  const k = await startKeywayInProcess(t, fourNodeTopology([1, 1, 1, 1]));
  const xdsPort = k.server.listening.xdsPort!;
  const channels = Array.from({ length: 4 }, () => rawClient(xdsPort));
  t.after(() => channels.forEach((c) => c.close()));

  const rng = new Rng(seed);
  const seeds = { sotw: [] as Uint8Array[], delta: [] as Uint8Array[], warm: [] as Uint8Array[], load: [] as Uint8Array[] };
  for (let i = 0; i < 20; i++) {
    seeds.sotw.push(randomSotw(rng));
    seeds.delta.push(randomDelta(rng));
    seeds.warm.push(randomWarm(rng));
    seeds.load.push(randomLoad(rng, WINDOW_MS));
  }
  const all = [...seeds.sotw, ...seeds.delta, ...seeds.warm, ...seeds.load];

  /** One message for `kind`: valid, mutated, random bytes or hand-built hostile. */
  const message = (r: Rng, kind: (typeof XDS_METHODS)[number]['kind']): Uint8Array => {
    const pool_ = kind === 'sotw' ? seeds.sotw : kind === 'delta' ? seeds.delta : kind === 'unary-load' ? seeds.load : seeds.warm;
    const roll = r.int(100);
    if (roll < 3) return kind === 'delta' ? hostileDelta(r) : kind === 'sotw' ? hostileSotw(r) : hostileWarm(r);
    if (roll < 60) {
      if (kind === 'sotw') return randomSotw(r);
      if (kind === 'delta') return randomDelta(r);
      return kind === 'unary-load' ? randomLoad(r, WINDOW_MS) : randomWarm(r);
    }
    let m = r.pick(pool_);
    // Mostly one mutation (often still decodable: unknown fields, a merged message), sometimes a pile.
    for (let n = roll < 85 ? 1 : 1 + r.int(4); n > 0; n--) m = mutate(r, m, all);
    return m;
  };

  const outcomes = await pool(12, iterations, async (i): Promise<CallOutcome & { i: number; path: string }> => {
    // Each iteration draws from its own generator, so one can be replayed alone.
    const r = new Rng(seed * 1_000_003 + i);
    const method = r.pick(XDS_METHODS);
    const channel = channels[i % channels.length]!;
    if (method.kind.startsWith('unary')) return { i, path: method.path, ...(await rawUnary(channel, method.path, message(r, method.kind), BOUND_MS)) };
    // Half the streams get only well-formed messages, so the fuzz reaches deep into the sessions.
    const wellFormed = r.chance(0.5);
    const messages = Array.from({ length: r.chance(0.2) ? 10 + r.int(40) : 1 + r.int(4) }, () =>
      wellFormed ? (method.kind === 'delta' ? randomDelta(r) : randomSotw(r)) : message(r, method.kind),
    );
    const reply = xdsReply(method.kind === 'delta' ? 'delta' : 'sotw', r);
    return { i, path: method.path, ...(await rawBidi(channel, method.path, messages, r.pick(PATTERNS), BOUND_MS, reply)) };
  });

  const codes = new Map<string, number>();
  for (const o of outcomes) {
    const key = o.hung ? 'hung' : `${o.status?.code} ${o.status?.details.replace(/[^a-z _]/gi, '').slice(0, 30)}`;
    codes.set(key, (codes.get(key) ?? 0) + 1);
  }
  t.diagnostic(`seed ${seed}, ${iterations} calls; statuses: ${JSON.stringify(Object.fromEntries([...codes].sort((a, b) => b[1] - a[1])))}`);
  const hung = outcomes.filter((o) => o.hung);
  assert.deepEqual(hung.map((o) => `seed ${seed} iteration ${o.i}: ${o.path}`), [], 'every call ends with a status within the bound');
  assert.deepEqual(escapes.escaped, [], `no error escapes to the process (seed ${seed})`);
  // An undecodable request is the client's fault (INVALID_ARGUMENT); INTERNAL or UNKNOWN would be keyway's.
  const internal = outcomes.filter((o) => o.status?.code === GrpcStatus.INTERNAL || o.status?.code === GrpcStatus.UNKNOWN);
  assert.deepEqual(internal.map((o) => `seed ${seed} iteration ${o.i}: ${o.path}: ${o.status?.details}`), [], 'no call fails inside keyway');

  // Every fuzz stream is over: none may stay registered (a leak, and a phantom row in /v1/proxies).
  const base = `http://127.0.0.1:${k.server.httpPort}`;
  await eventually('no stream left registered', async () => {
    const body = (await (await fetch(`${base}/v1/proxies`)).json()) as { proxies: { id: string }[] };
    return body.proxies.length === 0 ? true : undefined;
  }, { timeoutMs: 5_000 });

  // Gone clients leave no mark on readiness (a NACK of a disconnected proxy is not a degraded keyway).
  const ready = (await (await fetch(`${base}/readyz`)).json()) as { status: string; reasons: unknown[] };
  assert.equal(ready.status, 'ready', JSON.stringify(ready.reasons));

  // How deep the fuzz went: NACKs it made keyway record (requests carrying one of its nonces).
  const nacks = (await (await fetch(`${base}/metrics`)).text()).split('\n').filter((l) => l.startsWith('keyway_xds_nacks_total'));
  t.diagnostic(`NACKs recorded: ${nacks.map((l) => l.split(' ').at(-1)).reduce((a, b) => a + Number(b), 0)}`);

  // A well-behaved proxy, agent and reporter on the same server are still served.
  const envoy = new XdsTestClient({ port: xdsPort, node: { id: 'envoy-after-fuzz' } });
  k.clients.push(envoy);
  envoy.request('cluster', []);
  assert.ok((await envoy.expect('cluster')).resources.length > 0);
  const agent = new XdsTestClient({ port: xdsPort, node: { id: 'gpu-0', userAgentName: 'keyway-agent' }, protocol: 'delta' });
  k.clients.push(agent);
  agent.delta('assignment', { subscribe: [] });
  assert.ok((await agent.expect('assignment')).resources.length > 0);
  const warm = await rawUnary(channels[0]!, '/keyway.v1.ShardOwnership/ReportWarm', toBinary(WarmReportSchema, create(WarmReportSchema, { nodeId: 'gpu-1', shards: [1] })), BOUND_MS);
  assert.equal(warm.status?.code, GrpcStatus.OK, warm.status?.details);
});

/** A gRPC frame by hand: any flag byte, any announced length. */
const frame = (flag: number, body: Uint8Array, length = body.length): Buffer => {
  const head = Buffer.alloc(5);
  head[0] = flag;
  head.writeUInt32BE(length, 1);
  return Buffer.concat([head, body]);
};

test('broken gRPC framing on the xDS port ends each stream, and the port still serves', { timeout: 30_000 }, async (t) => {
  const escapes = watchEscapes();
  t.after(() => escapes.stop());
  const h = await startHarness({ clusters: { c0: [9001] } });
  t.after(() => h.close());
  const cds = toBinary(DiscoveryRequestSchema, create(DiscoveryRequestSchema, { node: { id: 'envoy-framing' }, typeUrl: TYPE_URL.cluster }));
  const cases: [string, Record<string, string>, Buffer[]][] = [
    ['a gzip bomb (64 MiB of zeros)', { 'grpc-encoding': 'gzip' }, [frame(1, gzipSync(Buffer.alloc(64 << 20)))]],
    ['gzip that is not', { 'grpc-encoding': 'gzip' }, [frame(1, Buffer.from('not gzip'))]],
    ['an encoding grpc-js does not know', { 'grpc-encoding': 'br' }, [frame(1, cds)]],
    ['the compressed flag without an encoding', {}, [frame(1, cds)]],
    ['a length of 4 GiB', {}, [frame(0, cds, 0xffffffff)]],
    ['a frame cut short, then the end', {}, [frame(0, cds).subarray(0, 7)]],
    ['flag byte 7', {}, [frame(7, cds)]],
    ['not gRPC (text/plain)', { 'content-type': 'text/plain' }, [frame(0, cds)]],
  ];
  for (const [name, headers, chunks] of cases) {
    const session = http2.connect(`http://127.0.0.1:${h.server.port}`);
    session.on('error', () => undefined);
    const req = session.request({ ':method': 'POST', ':path': '/envoy.service.discovery.v3.AggregatedDiscoveryService/StreamAggregatedResources', 'content-type': 'application/grpc', te: 'trailers', ...headers });
    req.on('error', () => undefined);
    req.resume();
    const ended = new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), 5_000);
      req.on('close', () => {
        clearTimeout(timer);
        resolve(true);
      });
    });
    for (const c of chunks) req.write(c);
    req.end();
    assert.ok(await ended, `${name}: the stream ends`);
    session.destroy();
  }
  assert.deepEqual(escapes.escaped, []);
  await eventually('no stream left registered', () => (h.server.proxies().length === 0 ? true : undefined), { timeoutMs: 5_000 });
  const envoy = h.client({ node: { id: 'envoy-after-framing' } });
  envoy.request('cluster', []);
  assert.equal((await envoy.expect('cluster')).resources.length, 1);
});
