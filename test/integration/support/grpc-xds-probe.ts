/**
 * A proxyless gRPC client in a process of its own, for the integration tests: @grpc/grpc-js-xds
 * dials `process.argv[2]` (an `xds:///` target) with the bootstrap in GRPC_XDS_BOOTSTRAP_CONFIG and
 * sends one unary RPC per stdin line. A line is JSON `{"id": n, "shard": "7"}` (`shard` absent: no
 * `x-cache-shard` metadata); the answer is a stdout line `{"id": n, "answer": "<server name>"}` or
 * `{"id": n, "error": "<message>"}`. It runs apart from the test because grpc-js-xds leaves
 * referenced timers behind (its priority policy keeps a deactivated child for 15 minutes, even
 * after the channel is closed), which would keep a test process alive.
 */
import { createInterface } from 'node:readline';
import { Client, Metadata, credentials, type ServiceError } from '@grpc/grpc-js';
import * as xds from '@grpc/grpc-js-xds';

const PROBE_METHOD = '/keyway.test.Cache/Who'; // served by the test's backends
const raw = (b: Buffer): Buffer => b;

const target = process.argv[2];
if (!target) throw new Error('usage: grpc-xds-probe.ts xds:///TARGET');
xds.register();
const client = new Client(target, credentials.createInsecure());

function call(shard: string | undefined): Promise<string> {
  const md = new Metadata();
  if (shard !== undefined) md.set('x-cache-shard', shard);
  return new Promise((resolve, reject) => {
    client.makeUnaryRequest(PROBE_METHOD, raw, raw, Buffer.alloc(0), md, { deadline: Date.now() + 2000 }, (err: ServiceError | null, value?: Buffer) =>
      err ? reject(err) : resolve(value!.toString()),
    );
  });
}

const lines = createInterface({ input: process.stdin });
lines.on('line', (line) => {
  const req = JSON.parse(line) as { id: number; shard?: string };
  call(req.shard).then(
    (answer) => process.stdout.write(`${JSON.stringify({ id: req.id, answer })}\n`),
    (err: Error) => process.stdout.write(`${JSON.stringify({ id: req.id, error: err.message })}\n`),
  );
});
lines.on('close', () => {
  client.close();
  process.exit(0);
});
