/**
 * Fuzzing the endpoint picker's port (src/extproc/server.ts): `ExternalProcessor/Process` and
 * `grpc.health.v1.Health` (Check, Watch) get random bytes, valid messages mutated (bit flips,
 * truncation, unknown fields such as a broken protocol_config, splices), hand-built ones (Struct
 * metadata nested deep, huge header lists) and odd stream patterns. No error may escape to the
 * process, every call must end with a status within a bound, and a well-behaved gateway and
 * probe must still be answered afterwards.
 *
 * Seeded and small by default. A longer campaign:
 *   KEYWAY_FUZZ_ITERATIONS=20000 KEYWAY_FUZZ_SEED=7 node --import tsx --test test/extproc/fuzz.test.ts
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import { BinaryWriter, WireType } from '@bufbuild/protobuf/wire';
import { status as GrpcStatus } from '@grpc/grpc-js';
import pino from 'pino';
import { startExtProcServer } from '../../src/extproc/index.js';
import { state } from './three-nodes.js';
import { ProcessingRequestSchema, ProcessingResponseSchema } from '../../src/xds/proto.js';
import { fuzzBudget, pool, rawBidi, rawClient, rawUnary, Rng, watchEscapes, type CallOutcome } from '../xds/server/fuzz-kit.js';
import { plan, PROCESS, randomRequest } from './fuzz-messages.js';


/** A call's status must come within this: a hang is for ever, and a 4 MB message of 200 000 headers takes ~0.3 s of CPU. */
const BOUND_MS = 10_000;
const text = new TextEncoder();

let outcomes: (CallOutcome & { i: number; what: string })[] = [];
let runSeed = 0;

test('the endpoint picker survives hostile and broken clients and still answers a gateway and a probe', { timeout: 120_000 }, async (t) => {
  const { iterations, seed } = fuzzBudget(600);
  runSeed = seed;
  const escapes = watchEscapes();
  t.after(() => escapes.stop());
  const server = await startExtProcServer({ state, port: 0, host: '127.0.0.1', logger: pino({ level: 'silent' }) });
  const channels = Array.from({ length: 4 }, () => rawClient(server.port));
  t.after(async () => {
    channels.forEach((c) => c.close());
    await server.close();
  });

  const seedRng = new Rng(seed);
  const seeds = Array.from({ length: 30 }, () => randomRequest(seedRng));
  outcomes = await pool(12, iterations, async (i): Promise<CallOutcome & { i: number; what: string }> => {
    const p = plan(seed, i, seeds);
    const channel = channels[i % channels.length]!;
    if (p.what === 'Process') return { i, what: p.what, ...(await rawBidi(channel, PROCESS, p.messages, p.pattern, BOUND_MS)) };
    return { i, what: p.what, ...(await rawUnary(channel, `/grpc.health.v1.${p.what}`, p.message, BOUND_MS, p.what === 'Health/Watch')) };
  });
  const codes = new Map<string, number>();
  for (const o of outcomes) {
    const key = o.hung ? `hung ${o.what}` : `${o.what} ${o.status?.code} ${o.status?.details.replace(/[^a-z _]/gi, '').slice(0, 30)}`;
    codes.set(key, (codes.get(key) ?? 0) + 1);
  }
  t.diagnostic(`seed ${seed}, ${iterations} calls; statuses: ${JSON.stringify(Object.fromEntries([...codes].sort((a, b) => b[1] - a[1])))}`);
  assert.deepEqual(escapes.escaped, [], `no error escapes to the process (seed ${seed})`);

  // A well-behaved gateway and probe are still answered.
  const pick = toBinary(ProcessingRequestSchema, create(ProcessingRequestSchema, { request: { case: 'requestHeaders', value: { headers: { headers: [{ key: 'x-cache-shard', rawValue: text.encode('3') }] }, endOfStream: true } } }));
  const answers: Uint8Array[] = [];
  const call = channels[0]!.makeBidiStreamRequest(PROCESS, (b: Buffer) => b, (b: Buffer) => b);
  call.on('data', (b: Buffer) => answers.push(b));
  const done = new Promise<number>((resolve) => call.on('status', (s) => resolve(s.code)));
  call.write(Buffer.from(pick));
  call.end();
  assert.equal(await done, GrpcStatus.OK);
  assert.equal(fromBinary(ProcessingResponseSchema, answers[0]!).response.case, 'requestHeaders');
  const health = await rawUnary(channels[1]!, '/grpc.health.v1.Health/Check', new BinaryWriter().tag(1, WireType.LengthDelimited).string('readiness').finish(), BOUND_MS);
  assert.equal(health.status?.code, GrpcStatus.OK);
});

test('every fuzzed picker call ends with a status within the bound, none INTERNAL', () => {
  assert.ok(outcomes.length > 0, 'the fuzz ran');
  assert.deepEqual(outcomes.filter((o) => o.hung).map((o) => `seed ${runSeed} iteration ${o.i}: ${o.what}`), [], 'every call ends with a status within the bound');
  // "Write error: ..." is the fuzz client's own write after keyway ended the stream (it ends once
  // both directions are over); a health request that does not decode is still grpc-js's INTERNAL.
  const internal = outcomes.filter(
    (o) => (o.status?.code === GrpcStatus.INTERNAL && !/^Write error: /.test(o.status.details) && !(o.what !== 'Process' && /deserializ/.test(o.status.details))) || o.status?.code === GrpcStatus.UNKNOWN,
  );
  assert.deepEqual(internal.map((o) => `seed ${runSeed} iteration ${o.i}: ${o.what}: ${o.status?.details}`), [], 'no call fails inside keyway');
});

test('a stream whose answer waits for the gateway to read, then sends an undecodable message, still ends with a status', { timeout: 20_000 }, async (t) => {
  const server = await startExtProcServer({ state, port: 0, host: '127.0.0.1', logger: pino({ level: 'silent' }) });
  const client = rawClient(server.port);
  t.after(async () => {
    client.close();
    await server.close();
  });
  const body = (n: number): Uint8Array => toBinary(ProcessingRequestSchema, create(ProcessingRequestSchema, { request: { case: 'requestBody', value: { body: new Uint8Array(n) } } }));
  // The 100 KB echo fills the call's buffer (keyway pauses reading); the truncated third message fails in grpc-js meanwhile.
  const outcome = await rawBidi(client, PROCESS, [body(100_000), body(10), new Uint8Array([0x0a, 0x05])], 'half-close', 5_000);
  assert.equal(outcome.hung, false, 'a status came');
  assert.equal(outcome.status?.code, GrpcStatus.INVALID_ARGUMENT, outcome.status?.details);
});
