/**
 * A proxyless gRPC client carrying keyway's shard picker, in a process of its own (as
 * grpc-xds-probe.ts, for the same reason: grpc-js-xds leaves referenced timers behind): it
 * registers @grpc/grpc-js-xds and `keyway/grpc`'s policy, dials `process.argv[2]` with the bootstrap
 * in GRPC_XDS_BOOTSTRAP_CONFIG, and sends one unary RPC per stdin line `{"id": n, "shard"?: "7",
 * "key"?: "user:1"}`, answering `{"id": n, "answer": "<server>"}` or `{"id": n, "error": "<message>"}`.
 */
import { createInterface } from 'node:readline';
import { Client, Metadata, credentials, type ServiceError } from '@grpc/grpc-js';
import * as xds from '@grpc/grpc-js-xds';
import { registerShardPicker } from '../../../src/grpc/index.js';

const PROBE_METHOD = '/keyway.test.Cache/Who';
const raw = (b: Buffer): Buffer => b;

const target = process.argv[2];
if (!target) throw new Error('usage: grpc-picker-probe.ts xds:///TARGET');
xds.register();
registerShardPicker();
const client = new Client(target, credentials.createInsecure());

function call(shard: string | undefined, key: string | undefined): Promise<string> {
  const md = new Metadata();
  if (shard !== undefined) md.set('x-cache-shard', shard);
  if (key !== undefined) md.set('x-cache-key', key);
  return new Promise((resolve, reject) => {
    client.makeUnaryRequest(PROBE_METHOD, raw, raw, Buffer.alloc(0), md, { deadline: Date.now() + 2000 }, (err: ServiceError | null, value?: Buffer) =>
      err ? reject(err) : resolve(value!.toString()),
    );
  });
}

const lines = createInterface({ input: process.stdin });
lines.on('line', (line) => {
  const req = JSON.parse(line) as { id: number; shard?: string; key?: string };
  call(req.shard, req.key).then(
    (answer) => process.stdout.write(`${JSON.stringify({ id: req.id, answer })}\n`),
    (err: Error) => process.stdout.write(`${JSON.stringify({ id: req.id, error: err.message })}\n`),
  );
});
lines.on('close', () => {
  client.close();
  process.exit(0);
});
