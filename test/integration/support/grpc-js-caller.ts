/**
 * A stock @grpc/grpc-js-xds client for the make-before-break tests (docs/xds.md "Make-before-break
 * for stock gRPC clients"), in a process of its own (see grpc-xds-probe.ts for why): it dials
 * `argv[2]` (an xds:/// target, bootstrap from GRPC_XDS_BOOTSTRAP_CONFIG) and calls
 * /keyway.test.Cache/Who without pause on every shard (`argv[3]` of them) from `argv[4]` workers,
 * half wait-for-ready, half fail-fast, each call carrying x-cache-shard. Commands on stdin, one a
 * line: "reset" zeroes the counters, "report" prints {"ok","failed","errors","byNode"} as JSON.
 */
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { Client, Metadata, credentials, type ServiceError } from '@grpc/grpc-js';
import * as xds from '@grpc/grpc-js-xds';

const METHOD = '/keyway.test.Cache/Who';
const raw = (b: Buffer): Buffer => b;

const [target, shardsArg, workersArg] = process.argv.slice(2);
if (!target || !shardsArg || !workersArg) throw new Error('usage: grpc-js-caller.ts xds:///TARGET SHARDS WORKERS');
const shards = Number(shardsArg);
xds.register();
const client = new Client(target, credentials.createInsecure());

let state = { ok: 0, failed: 0, errors: {} as Record<string, number>, byNode: {} as Record<string, number> };
const bump = (m: Record<string, number>, k: string): void => {
  m[k] = (m[k] ?? 0) + 1;
};

function call(shard: number, waitForReady: boolean): Promise<string> {
  const md = new Metadata({ waitForReady });
  md.set('x-cache-shard', String(shard));
  return new Promise((resolve, reject) => {
    client.makeUnaryRequest(METHOD, raw, raw, Buffer.alloc(0), md, { deadline: Date.now() + 5000 }, (err: ServiceError | null, value?: Buffer) =>
      err ? reject(err) : resolve(value!.toString()),
    );
  });
}

async function work(w: number): Promise<never> {
  for (let i = w; ; i++) {
    try {
      bump(state.byNode, await call(i % shards, w % 2 === 0));
      state.ok++;
    } catch (err) {
      state.failed++;
      bump(state.errors, (err as Error).message);
      await sleep(10);
    }
  }
}

for (let w = 0; w < Number(workersArg); w++) void work(w);
createInterface({ input: process.stdin })
  .on('line', (line) => {
    if (line === 'reset') {
      state = { ok: 0, failed: 0, errors: {}, byNode: {} };
      process.stdout.write('{}\n');
    } else if (line === 'report') process.stdout.write(`${JSON.stringify(state)}\n`);
  })
  .on('close', () => process.exit(0));
