/**
 * A grpc-js-xds client carrying keyway's shard picker in a process of its own (grpc-js-xds reads
 * its bootstrap once per process and leaves referenced timers behind), speaking the line protocol
 * of test/integration/support/probe-process.ts: each stdin line `{"id": n, "shard"?: "7",
 * "waitForReady"?: "true", "timeoutMs"?: "2000"}` is one unary Who call, answered
 * `{"id": n, "answer": "<server>"}` or `{"id": n, "error": "<code> <details>"}`.
 */
import { createInterface } from 'node:readline';
import { Client, Metadata, credentials, type ServiceError } from '@grpc/grpc-js';
import * as xds from '@grpc/grpc-js-xds';
import { registerShardPicker } from '../../../src/grpc/index.js';

const METHOD = '/keyway.test.Cache/Who';
const raw = (b: Buffer): Buffer => b;

const target = process.argv[2];
if (!target) throw new Error('usage: picker-call-probe.ts xds:///TARGET');
xds.register();
registerShardPicker();
const client = new Client(target, credentials.createInsecure());

interface Request {
  readonly id: number;
  readonly shard?: string;
  readonly waitForReady?: string;
  readonly timeoutMs?: string;
}

function call(req: Request): Promise<string> {
  const md = new Metadata();
  if (req.shard !== undefined) md.set('x-cache-shard', req.shard);
  if (req.waitForReady === 'true') md.setOptions({ waitForReady: true });
  const deadline = Date.now() + Number(req.timeoutMs ?? 2000);
  return new Promise((resolve, reject) => {
    client.makeUnaryRequest(METHOD, raw, raw, Buffer.alloc(0), md, { deadline }, (err: ServiceError | null, value?: Buffer) =>
      err ? reject(new Error(`${err.code} ${err.details}`)) : resolve(value!.toString()),
    );
  });
}

const lines = createInterface({ input: process.stdin });
lines.on('line', (line) => {
  const req = JSON.parse(line) as Request;
  call(req).then(
    (answer) => process.stdout.write(`${JSON.stringify({ id: req.id, answer })}\n`),
    (err: Error) => process.stdout.write(`${JSON.stringify({ id: req.id, error: err.message })}\n`),
  );
});
lines.on('close', () => {
  client.close();
  process.exit(0);
});
